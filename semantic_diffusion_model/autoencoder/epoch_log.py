"""The Gamma-VAE training's progress.csv: one row per epoch (loss terms, validation PSNR / SSIM)."""
from __future__ import annotations

from echo_from_noise import storage
from ..training.logger import read_rows, write_rows
from .trainer import TERMS

COLUMNS = ["epoch", "step", *TERMS, "val_psnr", "val_ssim", "train_seconds", "skipped_steps"]


class EpochLog:
    """progress.csv, one row per epoch; rows after the resumed epoch are dropped."""

    def __init__(self, out_dir: str, start_epoch: int):
        self.path = storage.join(out_dir, "progress.csv")
        self.rows = read_rows(self.path, "epoch", start_epoch)

    def write(self, row: dict) -> None:
        self.rows.append(row)
        write_rows(self.path, COLUMNS, self.rows)
