"""Test a trained view classifier on real CAMUS images.

--data-dir is a step-1 extraction root EXTRACT or a step-4 dataset folder SEG/<dataset> (the view of
an image comes from its view folder, or from its name). Writes to --out-dir: metrics.csv (one row
per image: truth, prediction and the probability of each class), summary.json (accuracy and
balanced accuracy with 95 % patient-bootstrap confidence intervals, confusion matrix, recall per
class, the training run), confusion_matrix.png and config.json.

    python -m echo_segmentation.test_view_classifier --checkpoint runs/views/best.pt \\
        --data-dir EXTRACT --out-dir results/views
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from echo_from_noise.cli import program, require_at_least, save_config
from echo_from_noise.contract import SPLITS
from echo_from_noise.files import atomic_path, check_writable, write_csv

from .tester_options import tester_options
from .view_classifier.evaluation import evaluate_views, probability_column
from .view_classifier.figures import confusion_figure

ID_COLUMNS = ["stem", "patient", "view", "truth", "prediction"]


@dataclass
class ViewTestConfig(tester_options("view classifier", "echo_segmentation.train_view_classifier",
                                    "an extraction root EXTRACT or a dataset folder SEG/<dataset>")):
    split: str = field(default="testing", metadata={"help": "split to test", "choices": SPLITS})
    batch_size: int = field(default=64, metadata={"help": "images per forward pass"})
    bootstrap: int = field(default=1000, metadata={
        "help": "bootstrap resamples of patients for the 95 %% confidence intervals (0: none)"})
    seed: int = field(default=0, metadata={"help": "seed of the bootstrap"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda' or 'cuda:N'"})


def run(config: ViewTestConfig) -> None:
    require_at_least(config, batch_size=1, bootstrap=0)
    # every input is read and checked before anything is written
    result = evaluate_views(config.checkpoint, config.data_dir, config.split, config.device,
                            config.bootstrap, config.seed, config.batch_size)
    out = check_writable(config.out_dir)
    rows = result.pop("rows")
    write_csv(out / "metrics.csv", ID_COLUMNS + [probability_column(c) for c in result["classes"]],
              rows, digits=6)
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    accuracy, balanced = result["accuracy"], result["balanced_accuracy"]
    confusion_figure(result["confusion_matrix"], result["classes"], out / "confusion_matrix.png",
                     f"{out.name}: {len(rows)} images, accuracy {accuracy['value']:.3f}, "
                     f"balanced {balanced['value']:.3f}")
    save_config(config, out / "config.json")
    interval = (f" (95 % CI {accuracy['ci_low']:.3f}-{accuracy['ci_high']:.3f})"
                if accuracy["ci_low"] is not None else "")
    print(f"{len(rows)} images of {result['num_patients']} patients: accuracy "
          f"{accuracy['value']:.4f}{interval}, balanced accuracy {balanced['value']:.4f}; "
          f"results in {out}")


main = program(ViewTestConfig, run, __doc__)


if __name__ == "__main__":
    main()
