"""The view classifier's training transform: scale to 0..1, augment (rotation, zoom, gamma; never a
horizontal flip, which changes the apparent view), normalise."""
from __future__ import annotations

import math

import numpy as np
from monai.transforms import (Compose, NormalizeIntensityd, RandAdjustContrastd, RandRotated,
                              RandZoomd, ScaleIntensityRanged, ToTensord)

from .config import GAMMA_RANGE, ROTATE_DEG, ZOOM_RANGE, ViewTrainConfig


def training_transform(config: ViewTrainConfig, normalisation: dict[str, float]) -> Compose:
    steps = [ScaleIntensityRanged("image", a_min=0, a_max=255, b_min=0, b_max=1,
                                  dtype=np.float32)]
    if config.augment:
        p = config.augment_prob
        steps += [RandRotated("image", range_x=math.radians(ROTATE_DEG), prob=p,
                              padding_mode="zeros"),
                  RandZoomd("image", prob=p, min_zoom=ZOOM_RANGE[0], max_zoom=ZOOM_RANGE[1],
                            padding_mode="constant"),
                  RandAdjustContrastd("image", prob=p, gamma=GAMMA_RANGE)]
    steps += [NormalizeIntensityd("image", subtrahend=normalisation["mean"],
                                  divisor=normalisation["std"]),
              ToTensord("image", track_meta=False)]
    return Compose(steps)
