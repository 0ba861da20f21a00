"""Drawing sector maps over grey images: the contours of the sampling program's combined panels
(semantic_diffusion_model.sampling.outputs) and of the evaluation's figures
(echo_segmentation.evaluation.figures). Colours: the contract's SECTOR_COLOURS."""
from __future__ import annotations

import numpy as np
from skimage.segmentation import find_boundaries

from .contract import (SECTOR_ATRIUM, SECTOR_CAVITY, SECTOR_COLOURS, SECTOR_MYOCARDIUM,
                       SECTOR_OUTSIDE)

HEART_CLASSES = (SECTOR_CAVITY, SECTOR_MYOCARDIUM, SECTOR_ATRIUM)
SECTOR_EDGE_COLOUR = np.array([255, 210, 0], dtype=np.uint8)


def contours(grey: np.ndarray, label_map: np.ndarray) -> np.ndarray:
    """The outline of the sector (yellow) and of each heart class (its contract colour) drawn over
    the grey image: (H, W) uint8 -> (H, W, 3) uint8."""
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[find_boundaries(label_map != SECTOR_OUTSIDE, mode="inner")] = SECTOR_EDGE_COLOUR
    for c in HEART_CLASSES:
        rgb[find_boundaries(label_map == c, mode="inner")] = SECTOR_COLOURS[c]
    return rgb
