"""Resizing, one rule for the whole project: images by area interpolation when shrinking (no
aliasing), else linear; label maps by nearest neighbour at pixel centres, values unchanged.

A size is one int (a square, size x size) or a (height, width) pair.
"""
from __future__ import annotations

import cv2
import numpy as np

Size = int | tuple[int, int]


def height_width(size: Size) -> tuple[int, int]:
    """(height, width) of a size given as one int (a square) or as (height, width)."""
    if np.ndim(size) == 0:
        return int(size), int(size)
    height, width = size
    return int(height), int(width)


def resize_image(image: np.ndarray, size: Size) -> np.ndarray:
    """Grey image to ``size``: area interpolation when shrinking (no aliasing), else linear."""
    height, width = height_width(size)
    shrinking = image.shape[0] >= height and image.shape[1] >= width
    return _resize(image, (height, width), cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def resize_labels(labels: np.ndarray, size: Size) -> np.ndarray:
    """Label map to ``size`` by nearest neighbour, values unchanged."""
    # INTER_NEAREST samples the top-left source pixel (a half-pixel shift of the map against its
    # resized image); _EXACT samples the pixel centre
    return _resize(labels, height_width(size), cv2.INTER_NEAREST_EXACT)


def _resize(array: np.ndarray, shape: tuple[int, int], interpolation: int) -> np.ndarray:
    """``array`` resized to ``shape`` (height, width), or itself when it has that shape already."""
    if array.shape == shape:
        return array
    return cv2.resize(array, (shape[1], shape[0]), interpolation=interpolation)
