"""Memorisation: how close each synthetic image comes to its nearest training image.

Two notions of "near":
  features  Euclidean distance between feature vectors standardised by the references (the
            training features): z = (x - mean_ref) / std_ref per dimension, d = ||z_q - z_r||.
  SSIM      structural similarity of the images resized to 64 x 64 (evaluation.ssim:
            MONAI's SSIM, data range 1, Gaussian window 11 px, sigma 1.5); larger is nearer.

A synthetic image counts as memorised when it is nearer to its nearest training image than every
real test image is to its own nearest training image: with test distances t_j (test images are
never seen in training, so min_j t_j is what an unseen real image can come to by chance),

    fraction = #{i : s_i < min_j t_j} / N          (closer="smaller", distances)
    fraction = #{i : s_i > max_j t_j} / N          (closer="larger", SSIM)

The comparison is strict: a synthetic image exactly as near as the nearest test image is not
flagged.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .ssim import image_stack, pairwise_ssim
from .standardisation import Standardisation


def nearest_by_features(queries: np.ndarray, references: np.ndarray, exclude_self: bool = False,
                        chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(index of the nearest reference (N,), its distance (N,)) for each query, in standardised
    feature space; ``exclude_self`` skips reference i for query i (queries == references)."""
    scale = Standardisation.of(references)
    q, r = torch.from_numpy(scale(queries)), torch.from_numpy(scale(references))
    if exclude_self and len(q) != len(r):
        raise ValueError("exclude_self needs the queries to be the references")
    index, distance = np.empty(len(q), dtype=np.int64), np.empty(len(q))
    for start in range(0, len(q), chunk):
        # exact differences (not |x|^2 + |y|^2 - 2 x.y): a copy of a reference is at distance 0
        d = torch.cdist(q[start:start + chunk], r, compute_mode="donot_use_mm_for_euclid_dist")
        if exclude_self:
            rows = torch.arange(len(d))
            d[rows, rows + start] = float("inf")
        best = d.min(dim=1)
        index[start:start + chunk], distance[start:start + chunk] = best.indices, best.values
    return index, distance


def nearest_by_ssim(queries: Sequence[np.ndarray], references: Sequence[np.ndarray],
                    size: int = 64, pairs_per_batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(index of the most similar reference (N,), its SSIM (N,)) for each query image (uint8)."""
    if len(references) == 0:
        raise ValueError("no reference images")
    similarity = pairwise_ssim(image_stack(queries, size), image_stack(references, size),
                               pairs_per_batch)
    best = similarity.max(dim=1)
    return best.indices.numpy(), best.values.double().numpy()


def memorised_fraction(synthetic_distance: np.ndarray, test_distance: np.ndarray,
                       closer: str = "smaller") -> dict:
    """The share of synthetic images nearer to the training set than any test image is.

    Returns {"fraction", "count", "threshold", "median_synthetic", "median_test",
    "num_synthetic", "num_test", "closer"}.
    """
    synthetic, test = np.asarray(synthetic_distance, float), np.asarray(test_distance, float)
    if closer not in ("smaller", "larger"):
        raise ValueError(f"closer must be 'smaller' or 'larger', got {closer!r}")
    if synthetic.size == 0 or test.size == 0:
        raise ValueError("need at least one synthetic and one test distance")
    if closer == "smaller":
        threshold = float(test.min())
        flagged = synthetic < threshold
    else:
        threshold = float(test.max())
        flagged = synthetic > threshold
    return {"fraction": float(flagged.mean()), "count": int(flagged.sum()),
            "threshold": threshold, "median_synthetic": float(np.median(synthetic)),
            "median_test": float(np.median(test)), "num_synthetic": int(synthetic.size),
            "num_test": int(test.size), "closer": closer}
