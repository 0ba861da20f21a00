"""Training augmentation and intensity normalisation (MONAI dictionary transforms).

Items are {"image": uint8 (1, H, W), "label": uint8 (1, H, W) CAMUS labels}; the image is first
scaled to 0..1. Augmentation
(the published one): random affine (rotation, translation, zoom; bilinear for the image, nearest
for the label), horizontal flip (the image's column axis), random gamma; then normalisation with
the training set's mean and std, the same at test time.
"""
from __future__ import annotations

import math

import numpy as np
from monai.transforms import (Compose, NormalizeIntensityd, RandAdjustContrastd, RandAffined,
                              RandFlipd, ScaleIntensityRanged, ToTensord)

from .config import TrainConfig

KEYS = ("image", "label")


def intensity_statistics(images: np.ndarray) -> dict[str, float]:
    """Mean and std of uint8 training images, as intensities in 0..1."""
    values = images.astype(np.float64) / 255.0
    return {"mean": float(values.mean()), "std": float(values.std()) or 1.0}


def normalise(image: np.ndarray, normalisation: dict[str, float]) -> np.ndarray:
    """uint8 or 0..1 image -> the network's input scale (as in training)."""
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    return ((image - normalisation["mean"]) / normalisation["std"]).astype(np.float32)


def training_transform(config: TrainConfig, normalisation: dict[str, float]) -> Compose:
    steps = [ScaleIntensityRanged("image", a_min=0, a_max=255, b_min=0, b_max=1, dtype=np.float32)]
    if config.augment:
        p = config.augment_prob
        zoom = config.scale_range
        steps += [
            RandAffined(KEYS, prob=p, rotate_range=math.radians(config.rotate_deg),
                        translate_range=(config.translate_frac * config.image_size,) * 2,
                        scale_range=((zoom[0] - 1, zoom[1] - 1),) * 2,
                        mode=("bilinear", "nearest"), padding_mode="zeros"),
            RandFlipd(KEYS, prob=p, spatial_axis=1),
            RandAdjustContrastd("image", prob=p, gamma=tuple(config.gamma_range)),
        ]
    steps += [
        NormalizeIntensityd("image", subtrahend=normalisation["mean"],
                            divisor=normalisation["std"]),
        ToTensord(KEYS, track_meta=False),
    ]
    return Compose(steps)
