"""Prediction with a trained network: normalise, run in batches, take the most likely class."""
from __future__ import annotations

import contextlib
from typing import Iterable

import numpy as np
import torch
from tqdm import tqdm

from echo_from_noise.resize import resize_image, resize_labels

from .transforms import normalise


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on a GPU; nothing on CPU (where it would be slower)."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_batch(network: torch.nn.Module, inputs: torch.Tensor, device: torch.device,
                  amp: bool = True) -> torch.Tensor:
    """Normalised inputs (N, 1, S, S) -> label maps (N, S, S), uint8, on the CPU."""
    with autocast(device, amp):
        logits = network(inputs.to(device, non_blocking=True))
    return logits.argmax(dim=1).to(torch.uint8).cpu()


def predict_images(network: torch.nn.Module, images: Iterable[np.ndarray], size: int,
                   normalisation: dict[str, float], device: torch.device, batch_size: int = 16,
                   amp: bool = True, progress: bool = True) -> list[np.ndarray]:
    """uint8 images of any size -> label maps of the same sizes (network run at ``size``)."""
    images = list(images)
    predictions: list[np.ndarray] = []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="predicting", leave=False, disable=not progress):
        chunk = images[start:start + batch_size]
        inputs = np.stack([normalise(resize_image(im, size), normalisation) for im in chunk])
        labels = predict_batch(network, torch.from_numpy(inputs[:, None]), device, amp).numpy()
        predictions += [resize_labels(lab, im.shape) for lab, im in zip(labels, chunk)]
    return predictions
