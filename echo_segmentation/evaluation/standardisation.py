"""Per-dimension standardisation of feature vectors by a reference set.

    z = (x - mean_ref) / std_ref        (population std over the reference rows; a dimension
                                          constant in the references keeps std 1)

Euclidean distances on z weigh every feature channel alike, whatever its raw scale. Distances that
are to be compared with each other (within-map, between-image, nearest-neighbour) must use one and
the same standardisation, that of the real training features.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardisation:
    mean: np.ndarray  # (D,)
    std: np.ndarray  # (D,), never 0

    @classmethod
    def of(cls, references: np.ndarray) -> "Standardisation":
        """The mean and std per dimension of ``references`` (N, D)."""
        references = np.asarray(references, dtype=np.float64)
        if references.ndim != 2 or len(references) == 0:
            raise ValueError(f"expected reference features (N, D) with N >= 1, got "
                             f"{references.shape}")
        std = references.std(axis=0)
        return cls(references.mean(axis=0), np.where(std > 0, std, 1.0))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """``features`` (N, D) standardised, float64."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.mean.shape[0]:
            raise ValueError(f"expected features (N, {self.mean.shape[0]}), got {features.shape}")
        return (features - self.mean) / self.std
