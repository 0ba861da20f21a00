"""Random affine + B-spline elastic deformation of sector maps (the published label augmentation).

Per map and per k, with its own random stream (``augmentation_rng``):

1. affine about the image centre: rotation U(-5, 5) deg, x-shear U(-5, 5) deg, scale U(0.8, 1.05),
   vertical (depth) shift U(-5 %, 5 %) of the height, no horizontal shift;
2. elastic: a control grid of 10 points along the rows x 4 along the columns spanning the image,
   each interior point displaced by U(-d, d) in both directions (d = 30 px at 256 px, scaled with
   the size), border points fixed; the dense displacement field is the cubic B-spline with the
   control values as coefficients (as SimpleITK's BSplineTransform and torchio): smooth, and
   smaller than the largest coefficient.

Both steps are composed into one backward mapping and resampled once with nearest neighbour, so
values stay in the map's label set and whatever comes from outside the image is 0 (outside sector).
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

REFERENCE_SIZE = 256  # the published displacement is given at 256 px


@dataclass(frozen=True)
class AugmentationParams:
    rotation_deg: float = 5.0
    shear_deg: float = 5.0
    scale: tuple[float, float] = (0.8, 1.05)
    max_shift_fraction: float = 0.05  # vertical only
    grid: tuple[int, int] = (10, 4)  # control points along rows, columns
    max_displacement_px: float = 30.0  # at REFERENCE_SIZE


def augmentation_rng(seed: int, stem: str, k: int) -> np.random.Generator:
    """The random stream of augmented map ``k`` of the map named ``stem`` (stable across runs)."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(stem.encode()), k]))


def random_affine(rng: np.random.Generator, shape: tuple[int, int],
                  params: AugmentationParams) -> tuple[np.ndarray, np.ndarray]:
    """Forward affine (2x2 matrix A, offset b) in (row, col): p_out = A p_in + b."""
    height, _ = shape
    angle = np.deg2rad(rng.uniform(-params.rotation_deg, params.rotation_deg))
    shear = np.deg2rad(rng.uniform(-params.shear_deg, params.shear_deg))
    scale = rng.uniform(*params.scale)
    shift = rng.uniform(-params.max_shift_fraction, params.max_shift_fraction) * height
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, sin], [-sin, cos]])  # (row, col) form of a rotation of (x, y)
    shear_x = np.array([[1.0, 0.0], [np.tan(shear), 1.0]])  # col += tan(shear) * row
    matrix = rotation @ shear_x * scale
    centre = (np.array(shape, dtype=np.float64) - 1) / 2
    offset = centre - matrix @ centre + np.array([shift, 0.0])
    return matrix, offset


def cubic_bspline(t: np.ndarray) -> np.ndarray:
    """The cubic B-spline kernel (support -2..2, sums to 1 over integer shifts)."""
    t = np.abs(t)
    return np.where(t < 1, (4 - 6 * t**2 + 3 * t**3) / 6, np.where(t < 2, (2 - t) ** 3 / 6, 0.0))


@functools.lru_cache(maxsize=16)
def bspline_weights(points: int, length: int) -> np.ndarray:
    """(length, points) weights of each control point at each pixel, the grid spanning the axis."""
    return cubic_bspline(np.linspace(0, points - 1, length)[:, None] - np.arange(points))


def random_displacement(rng: np.random.Generator, shape: tuple[int, int],
                        params: AugmentationParams) -> np.ndarray:
    """Dense displacement field (2, H, W) in pixels from a random control grid, border fixed."""
    height, width = shape
    rows, cols = params.grid
    limit = params.max_displacement_px * np.array([height, width]) / REFERENCE_SIZE
    control = rng.uniform(-1.0, 1.0, size=(2, rows, cols)) * limit[:, None, None]
    control[:, [0, -1], :] = 0.0
    control[:, :, [0, -1]] = 0.0
    # tensor-product cubic B-spline with the control values as coefficients (as SimpleITK's
    # BSplineTransform): smooth, no overshoot; coefficients beyond the grid are 0
    return bspline_weights(rows, height) @ control @ bspline_weights(cols, width).T


def augment_map(label_map: np.ndarray, rng: np.random.Generator,
                params: AugmentationParams = AugmentationParams()) -> np.ndarray:
    """One random affine + elastic deformation of a label map, nearest neighbour, fill 0."""
    shape = label_map.shape
    matrix, offset = random_affine(rng, shape, params)
    displacement = random_displacement(rng, shape, params)
    # elastic: where to read the affine output; then the affine backwards to the input
    rows = np.arange(shape[0])[:, None] + displacement[0] - offset[0]
    cols = np.arange(shape[1])[None, :] + displacement[1] - offset[1]
    inverse = np.linalg.inv(matrix)
    source_r = inverse[0, 0] * rows + inverse[0, 1] * cols
    source_c = inverse[1, 0] * rows + inverse[1, 1] * cols
    return cv2.remap(label_map, source_c.astype(np.float32), source_r.astype(np.float32),
                     cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
