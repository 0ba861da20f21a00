"""The steps of one training epoch: the scheduled learning rate, the seeded batches, one pass."""
from __future__ import annotations

import math

import torch
from monai.data import DataLoader, Dataset
from tqdm import tqdm

from ..inference import autocast


def cosine_lr(config, progress: float) -> float:
    """Cosine annealing from --lr to --lr-min as ``progress`` goes from 0 to 1."""
    progress = min(max(progress, 0.0), 1.0)
    return config.lr_min + (config.lr - config.lr_min) * 0.5 * (1 + math.cos(math.pi * progress))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def epoch_loader(config, epoch: int, dataset: Dataset, transform,
                 device: torch.device) -> DataLoader:
    """The shuffled, augmented batches of one epoch."""
    # seeding per epoch makes a resumed run repeat exactly what an uninterrupted one does
    torch.manual_seed(config.seed * 100_003 + epoch)
    transform.set_random_state(seed=(config.seed * 100_003 + epoch) % 2**32)
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=False,
                      num_workers=config.num_workers, pin_memory=device.type == "cuda")


def train_epoch(network, loader, optimizer, loss_fn, device, amp: bool, desc: str) -> float:
    """One pass over the batches; the mean training loss per image."""
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
