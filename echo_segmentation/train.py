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

import csv
import math
import time
from pathlib import Path

import numpy as np
import torch
from monai.data import DataLoader, Dataset
from monai.losses import DiceCELoss
from tqdm import tqdm

from echo_from_noise.errors import UserError
from echo_from_noise.cli import (config_from_dict, config_to_dict, parse_config, run_program,
                                 save_config)
from echo_from_noise.files import atomic_path, check_writable, remove_temporaries

from .config import RESUMABLE_CHANGES, TrainConfig, resolve_preset
from .data import list_pairs, load_resized
from echo_from_noise.device import pick_device

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


def resumed_state(config: TrainConfig, last: Path) -> dict | None:
    """The checkpoint to continue from (checked against this command), or None for a new run."""
    if not config.resume:
        if last.exists():
            raise UserError(f"{last}: the output folder already holds a run; add --resume to "
                            f"continue it or choose another --out-dir")
        return None
    if not last.exists():
        print(f"--resume: no {last} yet, starting a new run")
        return None
    checkpoint = read_checkpoint(last)
    saved = config_to_dict(config_from_dict(TrainConfig, checkpoint["config"]))
    for name, value in config_to_dict(config).items():
        if name not in RESUMABLE_CHANGES and saved[name] != value:
            raise UserError(f"{last}: saved run has {name}={saved[name]!r}, this command "
                            f"{value!r}; resume with the same settings or use another --out-dir")
    return checkpoint


def checkpoint_content(config: TrainConfig, normalisation: dict, network, optimizer,
                       state: dict) -> dict:
    return dict(config=config_to_dict(config), normalisation=normalisation,
                model=network.state_dict(), optimizer=optimizer.state_dict(), **state)


def validate(network, inputs: torch.Tensor, labels: np.ndarray, device, amp: bool) -> np.ndarray:
    """Mean validation Dice per structure."""
    network.eval()
    predictions = torch.cat([predict_batch(network, inputs[i:i + 32], device, amp)
                             for i in range(0, len(inputs), 32)])
    return dice_scores(predictions, labels).mean(dim=0).numpy()


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


def write_log(out: Path, history: list[dict]) -> None:
    with atomic_path(out / "log.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(history)


def tensorboard_writer(out: Path, start_epoch: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"), purge_step=start_epoch + 1)


def run(config: TrainConfig) -> None:
    config = resolve_preset(config)
    out = Path(config.out_dir)
    last, best = out / "last.pt", out / "best.pt"
    checkpoint = resumed_state(config, last)
    device = pick_device(config.device)

    train_pairs = list_pairs(config.data_dir, "training")
    val_pairs = list_pairs(config.data_dir, "validation")
    print(f"data: {len(train_pairs)} training, {len(val_pairs)} validation images "
          f"from {config.data_dir}, at {config.image_size} px")
    train_images, train_labels = load_resized(train_pairs, config.image_size)
    val_images, val_labels = load_resized(val_pairs, config.image_size)
    normalisation = (checkpoint["normalisation"] if checkpoint
                     else intensity_statistics(train_images))
    val_inputs = torch.from_numpy(normalise(val_images, normalisation)[:, None])
    check_writable(out)  # only now: bad input above leaves no output folder behind
    remove_temporaries(out)  # a checkpoint half-written when an earlier run was killed

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
    model = torch.compile(network) if config.compile else network
    save_config(config, out / "config.json", extra={
        "normalisation": normalisation, "num_training": len(train_pairs),
        "num_validation": len(val_pairs), "parameters": sum(p.numel() for p in network.parameters())})

    transform = training_transform(config, normalisation)
    dataset = Dataset([{"image": im[None], "label": lab[None]}
                       for im, lab in zip(train_images, train_labels)], transform)
    loss_fn = make_loss(config)
    writer = tensorboard_writer(out, state["epoch"])
    budget_s = config.max_minutes * 60 if config.max_minutes else math.inf
    last_epoch_s = state["history"][-1]["epoch_s"] if state["history"] else 0.0
    state["stopped_by"] = None  # a resumed run may have been stopped by an earlier, lower budget
    for epoch in range(state["epoch"], config.epochs):
        if state["elapsed_s"] + last_epoch_s > budget_s:
            # a safety stop only: the schedule below never depends on time, so the epochs that
            # did run are exactly those of a run without a budget
            state["stopped_by"] = f"--max-minutes {config.max_minutes:g}"
            print(f"time budget of {config.max_minutes} min reached after epoch {epoch}: "
                  f"{stop_note(epoch, config.epochs, state['stopped_by'])}")
            save_checkpoint(last, **checkpoint_content(config, normalisation, network, optimizer,
                                                       state))
            break
        started = time.monotonic()
        lr = cosine_lr(config, epoch / config.epochs)  # epochs only: never elapsed time
        for group in optimizer.param_groups:
            group["lr"] = lr
        # seeding per epoch makes a resumed run repeat exactly what an uninterrupted one does
        torch.manual_seed(config.seed * 100_003 + epoch)
        transform.set_random_state(seed=(config.seed * 100_003 + epoch) % 2**32)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=False,
                            num_workers=config.num_workers, pin_memory=device.type == "cuda")
        loss = train_epoch(model, loader, optimizer, loss_fn, device, config.amp,
                           f"epoch {epoch + 1}/{config.epochs}")
        dice = validate(model, val_inputs, val_labels, device, config.amp)
        last_epoch_s = time.monotonic() - started
        state["epoch"], state["elapsed_s"] = epoch + 1, state["elapsed_s"] + last_epoch_s
        improved = float(dice.mean()) > state["best_dice"]
        if improved:
            state["best_dice"], state["best_epoch"] = float(dice.mean()), epoch + 1
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss, "val_dice_mean": float(dice.mean()),
               "epoch_s": round(last_epoch_s, 2), "elapsed_s": round(state["elapsed_s"], 2),
               "best": int(improved), **{f"val_dice_{s}": float(d) for s, d in zip(STRUCTURES, dice)}}
        state["history"] = state["history"] + [row]
        content = checkpoint_content(config, normalisation, network, optimizer, state)
        if improved:
            save_checkpoint(best, **content)
        save_checkpoint(last, **content)
        write_log(out, state["history"])
        if writer:
            for key in ("lr", "train_loss", "val_dice_mean", *(f"val_dice_{s}" for s in STRUCTURES)):
                writer.add_scalar(key, row[key], epoch + 1)
            writer.flush()
        print(f"epoch {epoch + 1}: loss {loss:.4f}, validation Dice "
              + " / ".join(f"{d:.4f}" for d in dice) + f" (mean {dice.mean():.4f})"
              + (" *best*" if improved else "") + f", {last_epoch_s:.0f} s")
    if writer:
        writer.close()
    if state["stopped_by"]:
        print(f"warning: {stop_note(state['epoch'], config.epochs, state['stopped_by'])}: this "
              f"run is not comparable with runs of {config.epochs} epochs")
    print(f"done: {state['epoch']} epochs in {state['elapsed_s'] / 60:.1f} min; best mean "
          f"validation Dice {state['best_dice']:.4f} at epoch {state['best_epoch']} -> {best}")


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run(parse_config(TrainConfig, argv, __doc__)))


if __name__ == "__main__":
    main()
