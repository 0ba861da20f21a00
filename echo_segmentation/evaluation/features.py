"""The feature space of a network trained on real echocardiograms.

No pretrained network (Inception, RadImageNet) can be downloaded here, so the project's own
segmenter, trained on real CAMUS images, embeds the images: an image x is resized to the network's
input size S, normalised as in training, x' = (x / 255 - mean) / std, and its feature vector is the
output of the network's deepest level (the bottleneck, echo_segmentation.encoder.bottleneck_of: for
a MONAI UNet the block inside the innermost skip connection, for a DynUNet ``network.bottleneck``)
averaged over space,

    f(x) = 1 / (h w) sum_{u, v} B(x')[:, u, v]        (C channels at h x w = S / prod(strides)).

The network runs in eval mode in float32 without gradients; with instance norm (or batch norm's
running statistics in eval mode) the features of an image do not depend on the batch it is in.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from monai.networks.nets import DynUNet
from tqdm import tqdm

from echo_from_noise.device import pick_device
from echo_from_noise.resize import resize_image

from ..config import TrainConfig
from ..encoder import bottleneck_of
from ..inference import predict_images
from ..model import load_model
from ..transforms import normalise


def check_images(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    images = [np.asarray(im) for im in images]
    for i, image in enumerate(images):
        if image.ndim != 2 or image.dtype != np.uint8:
            raise ValueError(f"image {i}: expected a 2-D uint8 grey image, got {image.dtype} "
                             f"{image.shape}")
    return images


@dataclass
class FeatureNetwork:
    network: torch.nn.Module
    config: TrainConfig
    normalisation: dict[str, float]
    image_size: int
    checkpoint_path: Path
    device: torch.device
    feature_shape: tuple[int, int, int]  # (channels, height, width) of the bottleneck at image_size

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "FeatureNetwork":
        """The segmenter saved at ``path`` (an echo_segmentation checkpoint, else UserError)."""
        device = pick_device(device) if isinstance(device, str) else device
        network, config, checkpoint = load_model(path, device)
        size = config.image_size
        with torch.no_grad(), Captured(bottleneck_of(network)) as captured:
            network(torch.zeros(1, 1, size, size, device=device))
        return cls(network, config, dict(checkpoint["normalisation"]), size, Path(path), device,
                   tuple(captured.output.shape[1:]))

    @property
    def layer_description(self) -> str:
        channels, height, width = self.feature_shape
        kind = "DynUNet" if isinstance(self.network, DynUNet) else "UNet"
        return (f"the bottleneck of the real-trained segmentation {kind} ({channels} channels at "
                f"{height} x {width} px for a {self.image_size} px input), averaged over space")

    def inputs(self, images: list[np.ndarray]) -> torch.Tensor:
        stack = np.stack([normalise(resize_image(im, self.image_size), self.normalisation)
                          for im in images])
        return torch.from_numpy(stack[:, None]).to(self.device)

    @torch.no_grad()
    def features(self, images: Sequence[np.ndarray], batch_size: int = 32,
                 progress: bool = True) -> np.ndarray:
        """(N, C) float64: the spatially averaged bottleneck activations of each image."""
        images = check_images(images)
        self.network.eval()
        rows = [np.zeros((0, self.feature_shape[0]))]
        with Captured(bottleneck_of(self.network)) as captured:
            for start in tqdm(range(0, len(images), batch_size), desc="features", leave=False,
                              disable=not progress):
                self.network(self.inputs(images[start:start + batch_size]))
                rows.append(captured.output.float().mean(dim=(2, 3)).double().cpu().numpy())
        return np.concatenate(rows)

    def segment(self, images: Sequence[np.ndarray], batch_size: int = 32,
                progress: bool = True) -> list[np.ndarray]:
        """CAMUS label maps (0..3) of the images, each at its image's own size."""
        self.network.eval()
        return predict_images(self.network, check_images(images), self.image_size,
                              self.normalisation, self.device, batch_size, self.config.amp,
                              progress)


class Captured:
    """A forward hook on ``module`` keeping its latest output, removed on leaving the block."""

    def __init__(self, module: torch.nn.Module):
        self.module, self.output = module, None

    def __enter__(self) -> "Captured":
        self.handle = self.module.register_forward_hook(self.keep)
        return self

    def keep(self, module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self.output = output.detach()

    def __exit__(self, *exc) -> None:
        self.handle.remove()
