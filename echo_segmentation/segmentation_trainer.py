"""SegmentationTrainer: the epoch-training harness (epoch_training) for the segmentation network.

Data: DATA/{images,annotations}/{training,validation}/*.png at --image-size, normalised with the
training set's mean and std. Network: build_network (MONAI UNet or DynUNet), Adam, Dice + cross-
entropy or cross-entropy (--loss), optionally torch.compile'd. Validation: the mean Dice per
structure (LV endo, LV epi, LA); best.pt keeps the best mean. --max-minutes stops the run early.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.losses import DiceCELoss

from echo_from_noise.cli import require_at_least
from echo_from_noise.errors import UserError

from .config import RESUMABLE_CHANGES, TrainConfig, resolve_preset
from .data import list_pairs, load_resized
from .epoch_training.trainer import EpochTrainer
from .inference import predict_batch
from .metrics import STRUCTURES, dice_scores
from .model import build_network, read_checkpoint, save_checkpoint, stop_note
from .run_folder import BEST_FILE
from .transforms import intensity_statistics, normalise, training_transform

LOG_FIELDS = (["epoch", "lr", "train_loss"] + [f"val_dice_{s}" for s in STRUCTURES]
              + ["val_dice_mean", "epoch_s", "elapsed_s", "best"])
SCALARS = ("lr", "train_loss", "val_dice_mean", *(f"val_dice_{s}" for s in STRUCTURES))


@dataclass
class TrainingData:
    """Training and validation data at the network's input size, and the intensity normalisation."""
    train_images: np.ndarray  # uint8 (N, S, S)
    train_labels: np.ndarray
    val_inputs: torch.Tensor  # normalised validation images (N, 1, S, S)
    val_labels: np.ndarray
    normalisation: dict[str, float]


def check_options(config: TrainConfig) -> None:
    """The options' ranges, on the preset's values (no file is read)."""
    resolved = resolve_preset(config)
    minimums = dict(epochs=1, batch_size=1, image_size=8, lr=0.0, num_workers=0)
    require_at_least(resolved, **{k: v for k, v in minimums.items() if getattr(resolved, k) is not None})
    if not 0 <= resolved.augment_prob <= 1:
        raise UserError(f"--augment-prob must be in [0, 1], got {resolved.augment_prob}")
    if resolved.max_minutes is not None and resolved.max_minutes <= 0:
        raise UserError(f"--max-minutes must be > 0, got {resolved.max_minutes}")


def make_loss(config: TrainConfig):
    if config.loss == "dice_ce":
        return DiceCELoss(to_onehot_y=True, softmax=True)
    ce = torch.nn.CrossEntropyLoss()
    return lambda logits, labels: ce(logits, labels[:, 0].long())


class SegmentationTrainer(EpochTrainer):
    program = "echo_segmentation.train"
    resumable = RESUMABLE_CHANGES
    initial_state = {"epoch": 0, "elapsed_s": 0.0, "best_dice": -1.0, "best_epoch": 0,
                     "history": [], "stopped_by": None}
    best_key, score_column = "best_dice", "val_dice_mean"
    log_fields, scalars = LOG_FIELDS, SCALARS
    stops_for_time = True

    def checked_config(self, config: TrainConfig) -> TrainConfig:
        check_options(config)
        return resolve_preset(config)

    def read_checkpoint(self, path: Path) -> dict:
        return read_checkpoint(path)

    def save_checkpoint(self, path: Path, **content) -> None:
        save_checkpoint(path, **content)

    def load_data(self, checkpoint: dict | None) -> TrainingData:
        config = self.config
        train_pairs = list_pairs(config.data_dir, "training")
        val_pairs = list_pairs(config.data_dir, "validation")
        print(f"data: {len(train_pairs)} training, {len(val_pairs)} validation images "
              f"from {config.data_dir}, at {config.image_size} px")
        train_images, train_labels = load_resized(train_pairs, config.image_size)
        val_images, val_labels = load_resized(val_pairs, config.image_size)
        normalisation = (checkpoint["normalisation"] if checkpoint
                         else intensity_statistics(train_images))
        val_inputs = torch.from_numpy(normalise(val_images, normalisation)[:, None])
        return TrainingData(train_images, train_labels, val_inputs, val_labels, normalisation)

    def build_network(self) -> torch.nn.Module:
        return build_network(self.config)

    def make_optimizer(self, network: torch.nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(network.parameters(), lr=self.config.lr)

    def training_model(self, network: torch.nn.Module) -> torch.nn.Module:
        return torch.compile(network) if self.config.compile else network

    def training_transform(self, normalisation: dict[str, float]):
        return training_transform(self.config, normalisation)

    def training_items(self, data: TrainingData) -> list[dict]:
        return [{"image": im[None], "label": lab[None]}
                for im, lab in zip(data.train_images, data.train_labels)]

    def make_loss(self):
        return make_loss(self.config)

    def validate(self, model, data: TrainingData, device) -> np.ndarray:
        """Mean validation Dice per structure."""
        model.eval()
        inputs = data.val_inputs
        predictions = torch.cat([predict_batch(model, inputs[i:i + 32], device, self.config.amp)
                                 for i in range(0, len(inputs), 32)])
        return dice_scores(predictions, data.val_labels).mean(dim=0).numpy()

    def validation_columns(self, dice: np.ndarray) -> dict[str, float]:
        return {**{f"val_dice_{s}": float(d) for s, d in zip(STRUCTURES, dice)},
                "val_dice_mean": float(dice.mean())}

    def print_epoch(self, row: dict, epoch_s: float) -> None:
        print(f"epoch {row['epoch']}: loss {row['train_loss']:.4f}, validation Dice "
              + " / ".join(f"{row[f'val_dice_{s}']:.4f}" for s in STRUCTURES)
              + f" (mean {row['val_dice_mean']:.4f})"
              + (" *best*" if row["best"] else "") + f", {epoch_s:.0f} s")

    def print_done(self, state: dict, out: Path) -> None:
        epochs = self.config.epochs
        if state["stopped_by"]:
            print(f"warning: {stop_note(state['epoch'], epochs, state['stopped_by'])}: this "
                  f"run is not comparable with runs of {epochs} epochs")
        print(f"done: {state['epoch']} epochs in {state['elapsed_s'] / 60:.1f} min; best mean "
              f"validation Dice {state['best_dice']:.4f} at epoch {state['best_epoch']} -> "
              f"{out / BEST_FILE}")
