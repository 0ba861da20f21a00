"""Training progress: statistics summed over ranks, written by rank 0 to progress.csv (and
TensorBoard events when tensorboard is installed and the run folder is local).

progress.csv columns: step, loss, mse, vb (bits/dim), loss_q0..loss_q3 (mean loss of the samples
whose noise level fell in each quarter of the training distribution: timesteps [0, T/4), ... for
ddpm, quartiles of sigma for the EDM family), lr, grad_norm, images_per_s, skipped_steps.
On resume the rows after the resumed step are dropped, so the file matches the weights.
"""
from __future__ import annotations

import csv
import io
import time

import torch

from echo_from_noise import storage
from .distributed import all_reduce_sum

COLUMNS = ["step", "loss", "mse", "vb", "loss_q0", "loss_q1", "loss_q2", "loss_q3", "lr",
           "grad_norm", "images_per_s", "skipped_steps"]
# accumulator slots: loss, mse, vb, samples, quartile loss sums (4), quartile counts (4),
# grad-norm sum, finite steps, skipped steps, images
_SLOTS = 16


def read_rows(path: str, key: str, last: int) -> list[dict]:
    """The rows of a progress CSV up to ``key`` = last (those after it belong to lost work)."""
    if not storage.exists(path):
        return []
    text = storage.read_bytes(path).decode()
    return [r for r in csv.DictReader(io.StringIO(text)) if int(r[key]) <= last]


def write_rows(path: str, columns: list[str], rows: list[dict]) -> None:
    """The whole progress CSV, atomically (local or URL)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    storage.write_bytes(path, buffer.getvalue().encode())


class ProgressLog:
    def __init__(self, out_dir: str, is_main: bool, start_step: int, device: torch.device,
                 tensorboard: bool = True):
        self.path = storage.join(out_dir, "progress.csv")
        self.is_main = is_main
        self.acc = torch.zeros(_SLOTS, dtype=torch.float64, device=device)
        self.rows: list[dict] = []
        self.writer = None
        self.clock = time.perf_counter()
        if not is_main:
            return
        self.rows = read_rows(self.path, "step", start_step)
        if tensorboard and not storage.is_url(out_dir):
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                pass
            else:
                self.writer = SummaryWriter(storage.join(out_dir, "tensorboard"),
                                            purge_step=start_step + 1)

    def add_step(self, terms: dict[str, torch.Tensor], quartile: torch.Tensor,
                 grad_norm: torch.Tensor, finite: bool, images: int) -> None:
        """Add one step's per-sample terms and noise-level quartiles 0..3 (no device
        synchronisation)."""
        if finite:
            loss = terms["loss"].detach().double()
            self.acc[0] += loss.sum()
            self.acc[1] += terms["mse"].detach().double().sum()
            self.acc[2] += terms["vb"].detach().double().sum()
            self.acc[3] += loss.numel()
            self.acc[4:8].index_add_(0, quartile, loss)
            self.acc[8:12].index_add_(0, quartile, torch.ones_like(loss))
            self.acc[12] += grad_norm.double()
            self.acc[13] += 1
        else:
            self.acc[14] += 1
        self.acc[15] += images

    def write(self, step: int, lr: float) -> dict | None:
        """Reduce over ranks (every rank must call this), then rank 0 writes a row."""
        acc = all_reduce_sum(self.acc.clone()).tolist()
        elapsed = time.perf_counter() - self.clock
        self.acc.zero_()
        self.clock = time.perf_counter()
        if not self.is_main:
            return None

        def mean(total: float, count: float) -> float:
            return total / count if count else float("nan")

        row = {"step": step, "loss": mean(acc[0], acc[3]), "mse": mean(acc[1], acc[3]),
               "vb": mean(acc[2], acc[3]),
               **{f"loss_q{q}": mean(acc[4 + q], acc[8 + q]) for q in range(4)},
               "lr": lr, "grad_norm": mean(acc[12], acc[13]),
               "images_per_s": acc[15] / elapsed if elapsed > 0 else float("nan"),
               "skipped_steps": int(acc[14])}
        self.rows.append(row)
        write_rows(self.path, COLUMNS, self.rows)
        if self.writer is not None:
            for name in COLUMNS[1:]:
                self.writer.add_scalar(f"train/{name}", float(row[name]), step)
            self.writer.flush()
        return row

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
