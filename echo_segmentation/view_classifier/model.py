"""The view classifier network (MONAI, trained from scratch), its checkpoints and its predictions.

A checkpoint is a plain dict written atomically with ``save_torch`` and read with ``load_torch``
(tensors and plain data only):
    kind            CHECKPOINT_KIND (anything else is refused)
    config          the effective ViewTrainConfig as a dict
    classes         the class names, in label order
    normalisation   {"mean": m, "std": s} of the training images (intensities in 0..1)
    model           network weights
    optimizer, epoch, elapsed_s, history, best_score, best_epoch   (training state, for --resume;
                    best_score = validation balanced accuracy of best.pt)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.networks.nets import DenseNet121, EfficientNetBN

from echo_from_noise.checkpoint_files import load_torch, load_weights, save_torch
from echo_from_noise.cli import config_from_dict

from ..inference import autocast
from ..transforms import normalise
from .config import ViewTrainConfig

CHECKPOINT_KIND = "echo_segmentation.view_classifier"


def build_classifier(network: str, num_classes: int) -> torch.nn.Module:
    """A 2-D network from 1 grey channel to ``num_classes`` logits, randomly initialised."""
    if network == "densenet121":
        return DenseNet121(spatial_dims=2, in_channels=1, out_channels=num_classes,
                           pretrained=False)
    # MONAI keeps TensorFlow's settings: batch-norm momentum 0.01 and a last layer drawn from
    # ±1/sqrt(num_classes). With 2 classes the first logits are so large that training starts by
    # diverging, and on a small data set the running statistics lag far behind the weights
    # (evaluation then gives one class for every image); PyTorch's defaults instead
    network = EfficientNetBN(network, pretrained=False, spatial_dims=2, in_channels=1,
                             num_classes=num_classes,
                             norm=("batch", {"eps": 1e-3, "momentum": 0.1}))
    network._fc.reset_parameters()
    return network


def save_view_classifier(path: str | Path, **content: Any) -> None:
    """Write a checkpoint atomically (``content`` as described in the module docstring)."""
    save_torch(path, {**content, "kind": CHECKPOINT_KIND})


def read_view_classifier(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint of the view classifier (another kind is a UserError)."""
    return load_torch(Path(path), CHECKPOINT_KIND, "a view classifier checkpoint")


def load_view_classifier(path: str | Path, device: str | torch.device = "cpu"
                         ) -> tuple[torch.nn.Module, ViewTrainConfig, dict[str, Any]]:
    """The trained network (eval mode), its configuration and the whole checkpoint."""
    checkpoint = read_view_classifier(path)
    config = config_from_dict(ViewTrainConfig, checkpoint["config"])
    network = build_classifier(config.network, len(checkpoint["classes"]))
    load_weights(network, checkpoint["model"], path)
    return network.to(device).eval(), config, checkpoint


@torch.no_grad()
def predict_logits(network: torch.nn.Module, images: np.ndarray, normalisation: dict[str, float],
                   device: torch.device, amp: bool = True, batch_size: int = 64) -> torch.Tensor:
    """uint8 images (N, S, S) at the network's size -> logits (N, K), float32, on the CPU."""
    network.eval()
    logits = []
    for start in range(0, len(images), batch_size):
        inputs = torch.from_numpy(normalise(images[start:start + batch_size], normalisation))
        with autocast(device, amp):
            logits.append(network(inputs[:, None].to(device)).float().cpu())
    return torch.cat(logits)
