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
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from echo_from_noise.cli import (parse_config, require_at_least, run_program,  # noqa: E402
                                 save_config)
from echo_from_noise.contract import SPLITS  # noqa: E402
from echo_from_noise.device import pick_device  # noqa: E402
from echo_from_noise.files import atomic_path, check_writable, write_csv  # noqa: E402

from .figures import save_figure  # noqa: E402
from .model import newest_state  # noqa: E402
from .view_classifier.data import list_view_images, load_images  # noqa: E402
from .view_classifier.metrics import classification_summary  # noqa: E402
from .view_classifier.model import (load_view_classifier, predict_logits,  # noqa: E402
                                    read_view_classifier)

ID_COLUMNS = ["stem", "patient", "view", "truth", "prediction"]


@dataclass
class ViewTestConfig:
    checkpoint: str = field(default="", metadata={
        "help": "view classifier checkpoint (best.pt or last.pt of "
                "echo_segmentation.train_view_classifier)", "required": True})
    data_dir: str = field(default="", metadata={
        "help": "real test data: an extraction root EXTRACT or a dataset folder SEG/<dataset>",
        "required": True})
    out_dir: str = field(default="", metadata={"help": "results folder", "required": True})
    split: str = field(default="testing", metadata={"help": "split to test", "choices": SPLITS})
    batch_size: int = field(default=64, metadata={"help": "images per forward pass"})
    bootstrap: int = field(default=1000, metadata={
        "help": "bootstrap resamples of patients for the 95 %% confidence intervals (0: none)"})
    seed: int = field(default=0, metadata={"help": "seed of the bootstrap"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda' or 'cuda:N'"})


def probability_column(name: str) -> str:
    return f"p_{name}"


def training_facts(path: str | Path, checkpoint: dict) -> dict:
    """The run behind the checkpoint; epochs trained from last.pt beside it when present."""
    config = checkpoint["config"]
    trained = newest_state(path, checkpoint, read_view_classifier)["epoch"]
    return {"epochs_trained": trained, "epochs_planned": config["epochs"],
            "network": config["network"], "data_dir": config["data_dir"],
            "classes": config["classes"], "image_size": config["image_size"],
            "checkpoint_epoch": checkpoint["epoch"], "best_epoch": checkpoint["best_epoch"],
            "best_validation_balanced_accuracy": checkpoint["best_score"]}


def evaluate_views(checkpoint_path: str | Path, data_dir: str | Path, split: str = "testing",
                   device: str | torch.device = "auto", bootstrap: int = 1000, seed: int = 0,
                   batch_size: int = 64) -> dict:
    """Classify every image of ``split`` and summarise: the summary.json content plus "rows"
    (one dict per image, the columns of metrics.csv). Writes nothing."""
    device = pick_device(device) if isinstance(device, str) else device
    network, train_config, checkpoint = load_view_classifier(checkpoint_path, device)
    classes = list(checkpoint["classes"])
    items = list_view_images(data_dir, split, train_config.classes)
    images = load_images(items, train_config.image_size)
    logits = predict_logits(network, images, checkpoint["normalisation"], device,
                            train_config.amp, batch_size)
    probabilities = torch.softmax(logits, dim=1).numpy()
    rows = [{"stem": item.stem, "patient": item.patient, "view": item.view,
             "truth": classes[item.label], "prediction": classes[int(p.argmax())],
             **{probability_column(c): float(v) for c, v in zip(classes, p)}}
            for item, p in zip(items, probabilities)]
    summary = {"checkpoint": str(checkpoint_path), "data_dir": str(data_dir), "split": split,
               "bootstrap_resamples": bootstrap, "seed": seed,
               **classification_summary(rows, classes, bootstrap, seed),
               "training": training_facts(checkpoint_path, checkpoint)}
    return {**summary, "rows": rows}


def confusion_figure(matrix, classes: list[str], path: str | Path, title: str = "") -> None:
    """The confusion matrix (rows truth, columns prediction) shaded by row-normalised fraction,
    each cell annotated with its count and that fraction."""
    matrix = np.asarray(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        fractions = matrix / matrix.sum(axis=1, keepdims=True)
    size = 1.0 + 1.1 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    shown = ax.imshow(np.nan_to_num(fractions), cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        fraction = fractions[i, j]
        text = f"{count}\n{fraction:.0%}" if not np.isnan(fraction) else f"{count}"
        ax.text(j, i, text, ha="center", va="center", fontsize=9,
                color="white" if fraction > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted view")
    ax.set_ylabel("true view")
    ax.set_title(title, fontsize=9)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true view")
    save_figure(fig, path)


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


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run(parse_config(ViewTestConfig, argv, __doc__)))


if __name__ == "__main__":
    main()
