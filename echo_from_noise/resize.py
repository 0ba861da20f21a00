"""Resizing images (area when shrinking, linear when enlarging) and label maps (nearest)."""
from __future__ import annotations

import cv2
import numpy as np


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Grey image to size x size: area interpolation when shrinking (no aliasing), else linear."""
    if image.shape == (size, size):
        return image
    shrinking = min(image.shape[:2]) >= size
    return cv2.resize(image, (size, size),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def resize_labels(labels: np.ndarray, size: int) -> np.ndarray:
    """Label map to size x size by nearest neighbour (pixel-centre exact), values unchanged."""
    if labels.shape == (size, size):
        return labels
    return cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST_EXACT)
