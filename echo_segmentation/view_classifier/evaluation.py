"""A trained view classifier on the images of one split: its predictions and their summary
(accuracy and balanced accuracy with patient-bootstrap intervals, confusion matrix, recall per
class, the training run behind the checkpoint). Used by echo_segmentation.test_view_classifier and
echo_segmentation.evaluate_synthetic."""
from __future__ import annotations

from pathlib import Path

import torch

from echo_from_noise.device import pick_device

from ..model import newest_state
from .data import list_view_images, load_images
from .metrics import classification_summary
from .model import load_view_classifier, predict_logits, read_view_classifier


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
