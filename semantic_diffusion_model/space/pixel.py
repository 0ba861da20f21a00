"""Pixel space: the network works on the images themselves, at the image size."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import ModelConfig, sub_config


@dataclass(frozen=True)
class PixelSpace:
    image_size: int  # side of the images read and written

    record = None  # what a checkpoint stores of its space (its "autoencoder" entry): nothing
    bounded = True  # samples lie in [-1, 1]: the denoised estimate may be clipped
    description = "pixels"

    @property
    def network_size(self) -> int:
        """The side the network works at: the image size."""
        return self.image_size

    @property
    def generation(self) -> dict:
        """What a sampled folder records of the space (sample_config.json): nothing."""
        return {}

    def network_config(self, config) -> ModelConfig:
        """The network's part of a training configuration."""
        return sub_config(ModelConfig, config)

    def training_data(self, data, sigma_data: float, saved: dict | None = None,
                      progress: bool = False):
        """The training pairs as the network sees them: the images themselves."""
        return data

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Samples (N, C, H, W) in [-1, 1] -> images: the samples themselves."""
        return x
