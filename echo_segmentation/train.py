"""Train a segmentation network (MONAI UNet) on a step-4 dataset folder (docs/data_contract.md).

Reads DATA/{images,annotations}/{training,validation}/*.png, validates every epoch, keeps the best
model by mean validation Dice (LV endo, LV epi, LA) in OUT/best.pt and the latest state in
OUT/last.pt; OUT/log.csv has one row per epoch (and OUT/tensorboard/ when TensorBoard is installed).
Killed at any time, the same command with --resume continues after the last finished epoch (with
--resume from the start, the very same command line both starts and continues the run).

    python -m echo_segmentation.train --data-dir SEG/real --out-dir runs/real --max-minutes 20
    python -m echo_segmentation.train --data-dir SEG/real --out-dir runs/paper --preset paper
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.data import DataLoader, Dataset
from monai.losses import DiceCELoss
from tqdm import tqdm

from echo_from_noise.cli import (config_from_dict, config_to_dict, parse_config, require_at_least,
                                 run_program, save_config)
from echo_from_noise.device import pick_device
from echo_from_noise.errors import UserError
from echo_from_noise.files import check_writable, remove_temporaries, write_csv
from echo_from_noise.launch import require_one_process

from .config import RESUMABLE_CHANGES, TrainConfig, resolve_preset
from .data import list_pairs, load_resized
from .inference import autocast, predict_batch
from .metrics import STRUCTURES, dice_scores
from .model import build_network, read_checkpoint, save_checkpoint, stop_note
from .transforms import intensity_statistics, normalise, training_transform

LOG_FIELDS = (["epoch", "lr", "train_loss"] + [f"val_dice_{s}" for s in STRUCTURES]
              + ["val_dice_mean", "epoch_s", "elapsed_s", "best"])


def cosine_lr(config: TrainConfig, progress: float) -> float:
    """Cosine annealing from --lr to --lr-min as ``progress`` goes from 0 to 1."""
    progress = min(max(progress, 0.0), 1.0)
    return config.lr_min + (config.lr - config.lr_min) * 0.5 * (1 + math.cos(math.pi * progress))


def make_loss(config: TrainConfig):
    if config.loss == "dice_ce":
        return DiceCELoss(to_onehot_y=True, softmax=True)
    ce = torch.nn.CrossEntropyLoss()
    return lambda logits, labels: ce(logits, labels[:, 0].long())


# --- before training: the run to continue, the data, the network and its state ----------------

def resumed_state(config: TrainConfig, last: Path, read=read_checkpoint,
                  resumable: tuple[str, ...] = RESUMABLE_CHANGES) -> dict | None:
    """The checkpoint to continue from (checked against this command), or None for a new run.

    ``read`` loads a checkpoint of this program, ``resumable`` names the options that may differ;
    another program (the view classifier) passes its own, with its own configuration class.
    """
    if not config.resume:
        if last.exists():
            raise UserError(f"{last}: the output folder already holds a run; add --resume to "
                            f"continue it or choose another --out-dir")
        return None
    if not last.exists():
        print(f"--resume: no {last} yet, starting a new run")
        return None
    checkpoint = read(last)
    saved = config_to_dict(config_from_dict(type(config), checkpoint["config"]))
    for name, value in config_to_dict(config).items():
        if name not in resumable and saved[name] != value:
            raise UserError(f"{last}: saved run has {name}={saved[name]!r}, this command "
                            f"{value!r}; resume with the same settings or use another --out-dir")
    return checkpoint


@dataclass
class TrainingData:
    """Training and validation data at the network's input size, and the intensity normalisation."""
    train_images: np.ndarray  # uint8 (N, S, S)
    train_labels: np.ndarray
    val_inputs: torch.Tensor  # normalised validation images (N, 1, S, S)
    val_labels: np.ndarray
    normalisation: dict[str, float]


def load_data(config: TrainConfig, checkpoint: dict | None) -> TrainingData:
    """Read, check and resize both splits; a resumed run keeps its saved normalisation."""
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


def start_training(config: TrainConfig, checkpoint: dict | None, device: torch.device
                   ) -> tuple[torch.nn.Module, torch.optim.Optimizer, dict]:
    """The network, its optimizer and the training state: new (seeded), or the resumed run's."""
    torch.manual_seed(config.seed)
    network = build_network(config).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    state = {"epoch": 0, "elapsed_s": 0.0, "best_dice": -1.0, "best_epoch": 0, "history": [],
             "stopped_by": None}
    if checkpoint:
        network.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        state = {k: checkpoint.get(k) for k in state}
        print(f"resuming after epoch {state['epoch']} ({state['elapsed_s'] / 60:.1f} min so far)")
    return network, optimizer, state


def checkpoint_content(config: TrainConfig, normalisation: dict, network, optimizer,
                       state: dict) -> dict:
    return dict(config=config_to_dict(config), normalisation=normalisation,
                model=network.state_dict(), optimizer=optimizer.state_dict(), **state)


# --- one epoch: training at the scheduled learning rate, then validation -----------------------

def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def epoch_loader(config: TrainConfig, epoch: int, dataset: Dataset, transform,
                 device: torch.device) -> DataLoader:
    """The shuffled, augmented batches of one epoch."""
    # seeding per epoch makes a resumed run repeat exactly what an uninterrupted one does
    torch.manual_seed(config.seed * 100_003 + epoch)
    transform.set_random_state(seed=(config.seed * 100_003 + epoch) % 2**32)
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=False,
                      num_workers=config.num_workers, pin_memory=device.type == "cuda")


def train_epoch(network, loader, optimizer, loss_fn, device, amp: bool, desc: str) -> float:
    network.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True)
    for batch in bar:
        images = batch["image"].to(device, non_blocking=True)
        labels = batch["label"].to(device, non_blocking=True)
        with autocast(device, amp):
            loss = loss_fn(network(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(images)
        count += len(images)
        bar.set_postfix(loss=f"{total / count:.4f}")
    return total / count


def validate(network, inputs: torch.Tensor, labels: np.ndarray, device, amp: bool) -> np.ndarray:
    """Mean validation Dice per structure."""
    network.eval()
    predictions = torch.cat([predict_batch(network, inputs[i:i + 32], device, amp)
                             for i in range(0, len(inputs), 32)])
    return dice_scores(predictions, labels).mean(dim=0).numpy()


# --- after an epoch: training state, checkpoints, log ------------------------------------------

def record_epoch(state: dict, epoch: int, lr: float, loss: float, dice: np.ndarray,
                 epoch_s: float) -> dict:
    """Add a finished epoch to the training state; returns its log row ("best": 1 if improved)."""
    state["epoch"], state["elapsed_s"] = epoch + 1, state["elapsed_s"] + epoch_s
    improved = float(dice.mean()) > state["best_dice"]
    if improved:
        state["best_dice"], state["best_epoch"] = float(dice.mean()), epoch + 1
    row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss, "val_dice_mean": float(dice.mean()),
           "epoch_s": round(epoch_s, 2), "elapsed_s": round(state["elapsed_s"], 2),
           "best": int(improved), **{f"val_dice_{s}": float(d) for s, d in zip(STRUCTURES, dice)}}
    state["history"] = state["history"] + [row]
    return row


def write_log(out: Path, history: list[dict], fields: list[str] = LOG_FIELDS) -> None:
    write_csv(out / "log.csv", fields, history)


def tensorboard_writer(out: Path, start_epoch: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"), purge_step=start_epoch + 1)


SCALARS = ("lr", "train_loss", "val_dice_mean", *(f"val_dice_{s}" for s in STRUCTURES))


def save_epoch(out: Path, content: dict, row: dict, writer, save=save_checkpoint,
               fields: list[str] = LOG_FIELDS, scalars: tuple[str, ...] = SCALARS) -> None:
    """best.pt if the epoch improved, last.pt, log.csv and TensorBoard (``save`` writes a
    checkpoint of this program; the view classifier passes its own, with its log columns)."""
    if row["best"]:
        save(out / "best.pt", **content)
    save(out / "last.pt", **content)
    write_log(out, content["history"], fields)
    if writer:
        for key in scalars:
            writer.add_scalar(key, row[key], row["epoch"])
        writer.flush()


def print_epoch(row: dict, dice: np.ndarray, epoch_s: float) -> None:
    print(f"epoch {row['epoch']}: loss {row['train_loss']:.4f}, validation Dice "
          + " / ".join(f"{d:.4f}" for d in dice) + f" (mean {dice.mean():.4f})"
          + (" *best*" if row["best"] else "") + f", {epoch_s:.0f} s")


def stop_for_time_budget(config: TrainConfig, state: dict, epoch: int) -> None:
    """Mark the run as stopped by --max-minutes before ``epoch``."""
    # a safety stop only: the schedule never depends on time, so the epochs that did run are
    # exactly those of a run without a budget
    state["stopped_by"] = f"--max-minutes {config.max_minutes:g}"
    print(f"time budget of {config.max_minutes} min reached after epoch {epoch}: "
          f"{stop_note(epoch, config.epochs, state['stopped_by'])}")


# --- the whole run -----------------------------------------------------------------------------

def train_epochs(config: TrainConfig, out: Path, data: TrainingData, network, optimizer,
                 state: dict, device: torch.device) -> None:
    """Train from the state's epoch up to --epochs, each epoch validated, checkpointed and logged;
    stop (marked in the state and last.pt) before an epoch that would exceed --max-minutes."""
    model = torch.compile(network) if config.compile else network
    transform = training_transform(config, data.normalisation)
    dataset = Dataset([{"image": im[None], "label": lab[None]}
                       for im, lab in zip(data.train_images, data.train_labels)], transform)
    loss_fn = make_loss(config)
    writer = tensorboard_writer(out, state["epoch"])
    budget_s = config.max_minutes * 60 if config.max_minutes else math.inf
    last_epoch_s = state["history"][-1]["epoch_s"] if state["history"] else 0.0
    state["stopped_by"] = None  # a resumed run may have been stopped by an earlier, lower budget
    for epoch in range(state["epoch"], config.epochs):
        if state["elapsed_s"] + last_epoch_s > budget_s:
            stop_for_time_budget(config, state, epoch)
            save_checkpoint(out / "last.pt", **checkpoint_content(
                config, data.normalisation, network, optimizer, state))
            break
        started = time.monotonic()
        lr = set_learning_rate(optimizer, cosine_lr(config, epoch / config.epochs))  # never time
        loss = train_epoch(model, epoch_loader(config, epoch, dataset, transform, device),
                           optimizer, loss_fn, device, config.amp,
                           f"epoch {epoch + 1}/{config.epochs}")
        dice = validate(model, data.val_inputs, data.val_labels, device, config.amp)
        last_epoch_s = time.monotonic() - started
        row = record_epoch(state, epoch, lr, loss, dice, last_epoch_s)
        save_epoch(out, checkpoint_content(config, data.normalisation, network, optimizer, state),
                   row, writer)
        print_epoch(row, dice, last_epoch_s)
    if writer:
        writer.close()


def check_options(config: TrainConfig) -> None:
    """The options' ranges, on the preset's values (no file is read)."""
    resolved = resolve_preset(config)
    minimums = dict(epochs=1, batch_size=1, image_size=8, lr=0.0, num_workers=0)
    require_at_least(resolved, **{k: v for k, v in minimums.items() if getattr(resolved, k) is not None})
    if not 0 <= resolved.augment_prob <= 1:
        raise UserError(f"--augment-prob must be in [0, 1], got {resolved.augment_prob}")
    if resolved.max_minutes is not None and resolved.max_minutes <= 0:
        raise UserError(f"--max-minutes must be > 0, got {resolved.max_minutes}")


def run(config: TrainConfig) -> None:
    require_one_process("echo_segmentation.train")  # one task under srun etc.
    check_options(config)
    config = resolve_preset(config)
    out = Path(config.out_dir)
    checkpoint = resumed_state(config, out / "last.pt")
    device = pick_device(config.device)
    data = load_data(config, checkpoint)
    check_writable(out)  # only now: bad input above leaves no output folder behind
    remove_temporaries(out)  # a checkpoint half-written when an earlier run was killed
    network, optimizer, state = start_training(config, checkpoint, device)
    save_config(config, out / "config.json", extra={
        "normalisation": data.normalisation, "num_training": len(data.train_images),
        "num_validation": len(data.val_labels),
        "parameters": sum(p.numel() for p in network.parameters())})
    train_epochs(config, out, data, network, optimizer, state, device)
    if state["stopped_by"]:
        print(f"warning: {stop_note(state['epoch'], config.epochs, state['stopped_by'])}: this "
              f"run is not comparable with runs of {config.epochs} epochs")
    print(f"done: {state['epoch']} epochs in {state['elapsed_s'] / 60:.1f} min; best mean "
          f"validation Dice {state['best_dice']:.4f} at epoch {state['best_epoch']} -> "
          f"{out / 'best.pt'}")


CONFIG = TrainConfig  # (what the pipeline checks its options with)


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run(parse_config(TrainConfig, argv, __doc__)))


if __name__ == "__main__":
    main()
