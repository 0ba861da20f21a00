"""ViewClassifierTrainer: the epoch-training harness (echo_segmentation.epoch_training) for the
view classifier.

Data: a step-3 samples root, a step-1 extraction root or a step-4 dataset folder (view_classifier.
data), its training/ and validation/ splits at --image-size. Network: DenseNet121 or EfficientNet
(view_classifier.model), AdamW, cross-entropy. Validation: loss, accuracy and balanced accuracy;
best.pt keeps the best balanced accuracy (ties: the lower validation loss).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from echo_from_noise.errors import UserError

from ..epoch_training.trainer import EpochTrainer
from ..run_folder import BEST_FILE
from ..transforms import intensity_statistics
from .config import RESUMABLE_CHANGES, ViewTrainConfig, check_batches, check_config
from .data import CLASS_NAMES, list_view_images, load_images
from .metrics import balanced_accuracy
from .model import build_classifier, predict_logits, read_view_classifier, save_view_classifier
from .transforms import training_transform

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


class ViewClassifierTrainer(EpochTrainer):
    program = "echo_segmentation.train_view_classifier"
    resumable = RESUMABLE_CHANGES
    initial_state = {"epoch": 0, "elapsed_s": 0.0, "best_score": -1.0, "best_epoch": 0,
                     "history": []}
    best_key, score_column = "best_score", "val_balanced_accuracy"
    log_fields, scalars = LOG_FIELDS, SCALARS

    def checked_config(self, config: ViewTrainConfig) -> ViewTrainConfig:
        check_config(config)
        return config

    def read_checkpoint(self, path: Path) -> dict:
        return read_view_classifier(path)

    def save_checkpoint(self, path: Path, **content) -> None:
        save_view_classifier(path, **content)

    def run_facts(self) -> dict:
        return {"classes": list(CLASS_NAMES[self.config.classes])}

    def load_data(self, checkpoint: dict | None) -> ViewData:
        config = self.config
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

    def build_network(self) -> torch.nn.Module:
        return build_classifier(self.config.network, len(CLASS_NAMES[self.config.classes]))

    def make_optimizer(self, network: torch.nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(network.parameters(), lr=self.config.lr)

    def training_transform(self, normalisation: dict[str, float]):
        return training_transform(self.config, normalisation)

    def training_items(self, data: ViewData) -> list[dict]:
        return [{"image": image[None], "label": int(label)}
                for image, label in zip(data.train_images, data.train_labels)]

    def make_loss(self):
        return torch.nn.CrossEntropyLoss()

    def validate(self, model, data: ViewData, device) -> tuple[float, float, float]:
        """Validation loss, accuracy and balanced accuracy."""
        logits = predict_logits(model, data.val_images, data.normalisation, device,
                                self.config.amp)
        labels = torch.from_numpy(data.val_labels)
        loss = torch.nn.functional.cross_entropy(logits, labels).item()
        prediction = logits.argmax(dim=1).numpy()
        return (loss, float((prediction == data.val_labels).mean()),
                balanced_accuracy(data.val_labels, prediction, logits.shape[1]))

    def validation_columns(self, scores: tuple[float, float, float]) -> dict[str, float]:
        return dict(zip(("val_loss", "val_accuracy", "val_balanced_accuracy"), scores))

    def improved(self, state: dict, columns: dict[str, float]) -> bool:
        best = state["history"][state["best_epoch"] - 1] if state["best_epoch"] else None
        best_loss = best["val_loss"] if best else math.inf
        balanced = columns["val_balanced_accuracy"]
        return balanced > state["best_score"] or (balanced == state["best_score"]
                                                  and columns["val_loss"] < best_loss)

    def print_epoch(self, row: dict, epoch_s: float) -> None:
        print(f"epoch {row['epoch']}: loss {row['train_loss']:.4f}, validation loss "
              f"{row['val_loss']:.4f}, accuracy {row['val_accuracy']:.4f}, balanced accuracy "
              f"{row['val_balanced_accuracy']:.4f}" + (" *best*" if row["best"] else "")
              + f", {epoch_s:.1f} s")

    def print_done(self, state: dict, out: Path) -> None:
        print(f"done: {state['epoch']} epochs in {state['elapsed_s'] / 60:.1f} min; best "
              f"validation balanced accuracy {state['best_score']:.4f} at epoch "
              f"{state['best_epoch']} -> {out / BEST_FILE}")
