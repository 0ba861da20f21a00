"""Test a trained segmentation network on real CAMUS images (docs/data_contract.md, step 5).

--data-dir is a step-1 extraction root (EXTRACT, with --views to pick views), one view folder
EXTRACT/<VIEW>, or a step-4 dataset SEG/<dataset> (its testing/ split is the real test split).
Writes to --out-dir: metrics.csv (one row per image), summary.json and report.md (mean ± std
overall, per view and phase, with 95 % patient-bootstrap confidence intervals and the published
numbers beside ours), cases.png (best, median and worst cases), dice_boxplot.png, the predicted
label maps in predictions/, and config.json.

Images whose size differs from the network's input are resized for prediction and the
predictions resized back (nearest), so metrics are computed at the size of the ground truth.

    python -m echo_segmentation.test --checkpoint runs/real/best.pt --data-dir EXTRACT \\
        --out-dir results/real
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from echo_from_noise.cli import program, require_at_least
from echo_from_noise.contract import SPLITS, VIEWS

from .segmentation_tester import run_segmentation_test
from .tester_options import tester_options

TEST_DATA = "extraction root EXTRACT, a view folder EXTRACT/<VIEW>, or a dataset folder SEG/<dataset>"


@dataclass
class TestConfig(tester_options("segmentation", "echo_segmentation.train", TEST_DATA)):
    views: Optional[tuple[str, ...]] = field(default=None, metadata={
        "help": "views to test when --data-dir is an extraction root (default: all present)",
        "choices": VIEWS})
    split: str = field(default="testing", metadata={"help": "split to test", "choices": SPLITS})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda' or 'cuda:N'"})
    batch_size: int = field(default=16, metadata={"help": "images per forward pass"})
    bootstrap: int = field(default=1000, metadata={
        "help": "bootstrap resamples of patients for the 95 %% confidence intervals (0: no "
                "intervals)"})
    seed: int = field(default=0, metadata={"help": "seed of the bootstrap"})
    save_predictions: bool = field(default=True, metadata={
        "help": "write the predicted label maps to OUT/predictions/<stem>.png"})


def check_options(config: TestConfig) -> None:
    require_at_least(config, batch_size=1, bootstrap=0)


def run(config: TestConfig) -> None:
    check_options(config)
    run_segmentation_test(config)


CONFIG = TestConfig  # (what the pipeline checks its options with)
main = program(CONFIG, run, __doc__)


if __name__ == "__main__":
    main()
