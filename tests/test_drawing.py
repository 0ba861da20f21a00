"""echo_from_noise.drawing: the contours drawn over sampled and evaluated images."""
import cv2
import numpy as np
from skimage.segmentation import find_boundaries

from echo_from_noise.contract import SECTOR_CAVITY, SECTOR_COLOURS, SECTOR_OUTSIDE, SECTOR_TISSUE
from echo_from_noise.drawing import SECTOR_EDGE_COLOUR, contours, inner_boundary


def test_inner_boundary_is_skimage_find_boundaries_inner():
    rng = np.random.default_rng(0)
    for trial in range(200):
        h, w = rng.integers(1, 30, 2)
        labels = rng.integers(0, 4, (h, w)).astype(np.uint8)
        if trial % 2:  # blobs as well as speckle
            labels = cv2.resize(labels, (int(w) * 3, int(h) * 3), interpolation=cv2.INTER_NEAREST)
        for c in range(4):
            mask = labels == c
            assert np.array_equal(inner_boundary(mask), find_boundaries(mask, mode="inner"))


def test_contours_outline_the_sector_and_each_class():
    labels = np.full((9, 9), SECTOR_OUTSIDE, dtype=np.uint8)
    labels[1:8, 1:8] = SECTOR_TISSUE  # the sector's inside, no heart
    labels[3:6, 3:6] = SECTOR_CAVITY
    rgb = contours(np.full((9, 9), 7, dtype=np.uint8), labels)
    assert (rgb[1, 1] == SECTOR_EDGE_COLOUR).all() and (rgb[2, 2] == 7).all()
    assert (rgb[3, 3] == SECTOR_COLOURS[SECTOR_CAVITY]).all() and (rgb[4, 4] == 7).all()
    assert (rgb[0, 0] == 7).all()  # outside the sector: the grey image
