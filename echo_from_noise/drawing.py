"""Drawing sector maps over grey images: the contours of the sampling program's combined panels
(semantic_diffusion_model.sampling.outputs) and of the evaluation's figures
(echo_segmentation.evaluation.figures). Colours: the contract's SECTOR_COLOURS."""
from __future__ import annotations

import cv2
import numpy as np

from .contract import (SECTOR_ATRIUM, SECTOR_CAVITY, SECTOR_COLOURS, SECTOR_MYOCARDIUM,
                       SECTOR_OUTSIDE)

HEART_CLASSES = (SECTOR_CAVITY, SECTOR_MYOCARDIUM, SECTOR_ATRIUM)
SECTOR_EDGE_COLOUR = np.array([255, 210, 0], dtype=np.uint8)
FOUR_NEIGHBOURS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def inner_boundary(mask: np.ndarray) -> np.ndarray:
    """The pixels of a boolean mask with a 4-neighbour outside it (the image edge continues the
    mask): skimage's find_boundaries(mask, mode="inner"), through OpenCV, because importing
    skimage.segmentation costs every sampling process about a CPU-second and OpenCV is loaded
    already (tests/test_drawing.py holds the two equal)."""
    eroded = cv2.erode(mask.astype(np.uint8), FOUR_NEIGHBOURS, borderType=cv2.BORDER_REPLICATE)
    return mask & (eroded == 0)


def contours(grey: np.ndarray, label_map: np.ndarray) -> np.ndarray:
    """The outline of the sector (yellow) and of each heart class (its contract colour) drawn over
    the grey image: (H, W) uint8 -> (H, W, 3) uint8."""
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[inner_boundary(label_map != SECTOR_OUTSIDE)] = SECTOR_EDGE_COLOUR
    for c in HEART_CLASSES:
        rgb[inner_boundary(label_map == c)] = SECTOR_COLOURS[c]
    return rgb
