"""Train a view classifier (2CH vs 4CH, or the four views) on real or synthetic echocardiograms.

--data-dir is a step-3 samples root (the label of a sample is the view folder it lies in), a step-1
extraction root or a step-4 dataset folder; its training/ and validation/ splits are used. Every
epoch is validated; OUT/best.pt keeps the best validation balanced accuracy (ties: lower validation
loss), OUT/last.pt the latest state, OUT/log.csv one row per epoch (and OUT/tensorboard/ when
TensorBoard is installed). Killed at any time, the same command with --resume continues after the
last finished epoch and ends with the weights an uninterrupted run would have.

    python -m echo_segmentation.train_view_classifier --data-dir SAMPLES --out-dir runs/views
    python -m echo_segmentation.test_view_classifier --checkpoint runs/views/best.pt \\
        --data-dir EXTRACT --out-dir results/views
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.data import Dataset
from monai.transforms import (Compose, NormalizeIntensityd, RandAdjustContrastd, RandRotated,
                              RandZoomd, ScaleIntensityRanged, ToTensord)

from echo_from_noise.cli import parse_config, run_program, save_config
from echo_from_noise.device import pick_device
from echo_from_noise.errors import UserError
from echo_from_noise.files import check_writable, remove_temporaries
from echo_from_noise.launch import require_one_process

from .train import (checkpoint_content, cosine_lr, epoch_loader, resumed_state, save_epoch,
                    set_learning_rate, tensorboard_writer, train_epoch)
from .transforms import intensity_statistics
from .view_classifier.config import (GAMMA_RANGE, RESUMABLE_CHANGES, ROTATE_DEG, ZOOM_RANGE,
                                     ViewTrainConfig, check_batches, check_config)
from .view_classifier.data import CLASS_NAMES, list_view_images, load_images
from .view_classifier.metrics import balanced_accuracy
from .view_classifier.model import (build_classifier, predict_logits, read_view_classifier,
                                    save_view_classifier)

LOG_FIELDS = ["epoch", "lr", "train_loss", "val_loss", "val_accuracy", "val_balanced_accuracy",
              "epoch_s", "elapsed_s", "best"]
SCALARS = ("lr", "train_loss", "val_loss", "val_accuracy", "val_balanced_accuracy")


@dataclass
class ViewData:
    """Both splits at the network's input size, and the intensity normalisation."""
    train_images: np.ndarray  # uint8 (N, S, S)
    train_labels: np.ndarray  # int (N,)
    val_images: np.ndarray
    val_labels: np.ndarray
    normalisation: dict[str, float]


def load_data(config: ViewTrainConfig, checkpoint: dict | None) -> ViewData:
    """Read, check and resize both splits; a resumed run keeps its saved normalisation."""
    train = list_view_images(config.data_dir, "training", config.classes)
    val = list_view_images(config.data_dir, "validation", config.classes)
    check_batches(config, len(train))
    names = CLASS_NAMES[config.classes]
    counts = np.bincount([i.label for i in train], minlength=len(names))
    per_class = ", ".join(f"{n} {c}" for c, n in zip(names, counts))
    if (counts == 0).any():  # a classifier of one class learns nothing
        raise UserError(f"{config.data_dir}: the training split has no images of "
                        f"{', '.join(n for n, c in zip(names, counts) if c == 0)} "
                        f"({per_class}); every class of --classes {config.classes} is needed")
    print(f"data: {len(train)} training ({per_class}), {len(val)} validation images from "
          f"{config.data_dir}, at {config.image_size} px")
    train_images = load_images(train, config.image_size)
    normalisation = (checkpoint["normalisation"] if checkpoint
                     else intensity_statistics(train_images))
    return ViewData(train_images, np.array([i.label for i in train]),
                    load_images(val, config.image_size), np.array([i.label for i in val]),
                    normalisation)


def training_transform(config: ViewTrainConfig, normalisation: dict[str, float]) -> Compose:
    """Scale to 0..1, augment (rotation, zoom, gamma; never a flip), normalise."""
    steps = [ScaleIntensityRanged("image", a_min=0, a_max=255, b_min=0, b_max=1,
                                  dtype=np.float32)]
    if config.augment:
        p = config.augment_prob
        steps += [RandRotated("image", range_x=math.radians(ROTATE_DEG), prob=p,
                              padding_mode="zeros"),
                  RandZoomd("image", prob=p, min_zoom=ZOOM_RANGE[0], max_zoom=ZOOM_RANGE[1],
                            padding_mode="constant"),
                  RandAdjustContrastd("image", prob=p, gamma=GAMMA_RANGE)]
    steps += [NormalizeIntensityd("image", subtrahend=normalisation["mean"],
                                  divisor=normalisation["std"]),
              ToTensord("image", track_meta=False)]
    return Compose(steps)


def start_training(config: ViewTrainConfig, checkpoint: dict | None, device: torch.device):
    """The network, its optimizer and the training state: new (seeded), or the resumed run's."""
    torch.manual_seed(config.seed)
    network = build_classifier(config.network, len(CLASS_NAMES[config.classes])).to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr)
    state = {"epoch": 0, "elapsed_s": 0.0, "best_score": -1.0, "best_epoch": 0, "history": []}
    if checkpoint:
        network.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        state = {k: checkpoint[k] for k in state}
        print(f"resuming after epoch {state['epoch']} ({state['elapsed_s'] / 60:.1f} min so far)")
    return network, optimizer, state


def validate(network, data: ViewData, config: ViewTrainConfig, device
             ) -> tuple[float, float, float]:
    """Validation loss, accuracy and balanced accuracy."""
    logits = predict_logits(network, data.val_images, data.normalisation, device, config.amp)
    labels = torch.from_numpy(data.val_labels)
    loss = torch.nn.functional.cross_entropy(logits, labels).item()
    prediction = logits.argmax(dim=1).numpy()
    return (loss, float((prediction == data.val_labels).mean()),
            balanced_accuracy(data.val_labels, prediction, logits.shape[1]))


def record_epoch(state: dict, epoch: int, lr: float, train_loss: float,
                 scores: tuple[float, float, float], epoch_s: float) -> dict:
    """Add a finished epoch to the state; returns its log row ("best": 1 if it improved)."""
    val_loss, accuracy, balanced = scores
    best = state["history"][state["best_epoch"] - 1] if state["best_epoch"] else None
    best_loss = best["val_loss"] if best else math.inf
    improved = balanced > state["best_score"] or (balanced == state["best_score"]
                                                  and val_loss < best_loss)
    state["epoch"], state["elapsed_s"] = epoch + 1, state["elapsed_s"] + epoch_s
    if improved:
        state["best_score"], state["best_epoch"] = balanced, epoch + 1
    row = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, "val_loss": val_loss,
           "val_accuracy": accuracy, "val_balanced_accuracy": balanced,
           "epoch_s": round(epoch_s, 2), "elapsed_s": round(state["elapsed_s"], 2),
           "best": int(improved)}
    state["history"] = state["history"] + [row]
    return row


def train_epochs(config: ViewTrainConfig, out: Path, data: ViewData, network, optimizer,
                 state: dict, device: torch.device) -> None:
    """Train from the state's epoch up to --epochs, each epoch validated, checkpointed, logged."""
    transform = training_transform(config, data.normalisation)
    dataset = Dataset([{"image": image[None], "label": int(label)}
                       for image, label in zip(data.train_images, data.train_labels)], transform)
    loss_fn = torch.nn.CrossEntropyLoss()
    writer = tensorboard_writer(out, state["epoch"])
    for epoch in range(state["epoch"], config.epochs):
        started = time.monotonic()
        lr = set_learning_rate(optimizer, cosine_lr(config, epoch / config.epochs))
        train_loss = train_epoch(network, epoch_loader(config, epoch, dataset, transform, device),
                                 optimizer, loss_fn, device, config.amp,
                                 f"epoch {epoch + 1}/{config.epochs}")
        scores = validate(network, data, config, device)
        epoch_s = time.monotonic() - started
        row = record_epoch(state, epoch, lr, train_loss, scores, epoch_s)
        content = {**checkpoint_content(config, data.normalisation, network, optimizer, state),
                   "classes": list(CLASS_NAMES[config.classes])}
        save_epoch(out, content, row, writer, save_view_classifier, LOG_FIELDS, SCALARS)
        print(f"epoch {epoch + 1}: loss {train_loss:.4f}, validation loss {scores[0]:.4f}, "
              f"accuracy {scores[1]:.4f}, balanced accuracy {scores[2]:.4f}"
              + (" *best*" if row["best"] else "") + f", {epoch_s:.1f} s")
    if writer:
        writer.close()


def run(config: ViewTrainConfig) -> None:
    require_one_process("echo_segmentation.train_view_classifier")  # one task under srun etc.
    check_config(config)
    out = Path(config.out_dir)
    checkpoint = resumed_state(config, out / "last.pt", read_view_classifier, RESUMABLE_CHANGES)
    device = pick_device(config.device)
    data = load_data(config, checkpoint)
    check_writable(out)  # only now: bad input above leaves no output folder behind
    remove_temporaries(out)  # a checkpoint half-written when an earlier run was killed
    network, optimizer, state = start_training(config, checkpoint, device)
    save_config(config, out / "config.json", extra={
        "classes": list(CLASS_NAMES[config.classes]), "normalisation": data.normalisation,
        "num_training": len(data.train_labels), "num_validation": len(data.val_labels),
        "parameters": sum(p.numel() for p in network.parameters())})
    train_epochs(config, out, data, network, optimizer, state, device)
    print(f"done: {state['epoch']} epochs in {state['elapsed_s'] / 60:.1f} min; best validation "
          f"balanced accuracy {state['best_score']:.4f} at epoch {state['best_epoch']} -> "
          f"{out / 'best.pt'}")


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run(parse_config(ViewTrainConfig, argv, __doc__)))


if __name__ == "__main__":
    main()
