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

import json
from dataclasses import dataclass, field
from typing import Optional

from tqdm import tqdm

from echo_from_noise.cli import parse_config, require_at_least, run_program, save_config
from echo_from_noise.contract import SPLITS, VIEWS
from echo_from_noise.device import pick_device
from echo_from_noise.files import atomic_path, check_writable, write_csv, write_png

from .data import list_pairs, read_pair
from .figures import case_grid, dice_boxplot
from .inference import predict_images
from .metrics import STRUCTURES, image_metrics, metric_column
from .model import load_model
from .report import render_report
from .segmentation_scores import identity, results_summary, spacing_for
from .statistics import COLUMNS, nan_to_none

ID_COLUMNS = ["stem", "patient", "view", "phase"]


@dataclass
class TestConfig:
    checkpoint: str = field(default="", metadata={
        "help": "segmentation checkpoint (best.pt or last.pt of echo_segmentation.train)",
        "required": True})
    data_dir: str = field(default="", metadata={
        "help": "real test data: extraction root EXTRACT, a view folder EXTRACT/<VIEW>, or a "
                "dataset folder SEG/<dataset>", "required": True})
    out_dir: str = field(default="", metadata={"help": "results folder", "required": True})
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
    device = pick_device(config.device)
    network, train_config, checkpoint = load_model(config.checkpoint, device)
    pairs = list_pairs(config.data_dir, config.split, config.views)
    # read and check every input before anything is written
    images, truths = zip(*(read_pair(p) for p in pairs))
    size = train_config.image_size
    other = sorted({im.shape for im in images if im.shape != (size, size)})
    if other:
        print(f"warning: the network runs at {size} x {size}; images of size "
              f"{', '.join(f'{h} x {w}' for h, w in other)} are resized for prediction and the "
              f"predictions resized back (nearest)")
    stems = [p.stem for p in pairs]
    spacing = spacing_for(stems, config.data_dir)
    out = check_writable(config.out_dir)

    predictions = predict_images(network, images, size,
                                 checkpoint["normalisation"], device, config.batch_size, train_config.amp)
    rows = []
    for stem, pred, truth in tqdm(list(zip(stems, predictions, truths)), desc="metrics",
                                  leave=False):
        rows.append({**identity(stem),
                     **image_metrics(pred, truth, spacing[stem] if spacing else None)})
        if config.save_predictions:
            write_png(out / "predictions" / f"{stem}.png", pred)
    write_csv(out / "metrics.csv", ID_COLUMNS + COLUMNS, rows, digits=6)

    summary = results_summary(config, out, spacing, rows, train_config, checkpoint)
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(nan_to_none(summary), indent=2) + "\n")
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(render_report(summary))
    case_grid(rows, list(images), list(truths), predictions, out / "cases.png")
    dice_boxplot(rows, out / "dice_boxplot.png", f"{out.name}: Dice per structure "
                 f"({len(rows)} images)")
    save_config(config, out / "config.json")
    overall = summary["groups"]["all"]["metrics"]
    print(f"{len(rows)} images: Dice (%) "
          + " / ".join(f"{100 * overall[metric_column('dice', s)]['mean']:.1f}" for s in STRUCTURES)
          + f" (LV endo / LV epi / LA); report: {out / 'report.md'}")


CONFIG = TestConfig  # (what the pipeline checks its options with)


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run(parse_config(TestConfig, argv, __doc__)))


if __name__ == "__main__":
    main()
