"""Realism distances between two sets of feature vectors a (N, D) and b (M, D).

Fréchet distance (Heusel et al. 2017, "FID" with Inception features; here any feature space):
each set is summarised by its mean mu and covariance S (unbiased, N - 1), and

    FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))

computed by MONAI's get_fid_score (scipy's sqrtm; an imaginary part from rounding is dropped, one
larger than 1e-3 on the diagonal is an error). A set against itself gives 0 up to rounding (about
1e-8 of Tr S, also when N < D makes S singular); small negative values are rounding, not meaning.

Kernel distance (KID, Binkowski et al. 2018, as torch-fidelity computes it): the unbiased estimate
of the squared maximum mean discrepancy with the polynomial kernel k(x, y) = (x.y / D + 1)^3,

    MMD^2 = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1))
            - 2 sum_{i, j} k(x_i, y_j) / m^2,

on `subsets` pairs of random subsets of m = min(subset_size, N, M) rows drawn without replacement
(numpy default_rng(seed): the same seed gives the same value); reported as the mean and std over
the subsets (one "subset" when both sets have at most subset_size rows: std 0). Being unbiased,
it is near zero for two samples of one distribution but not exactly zero, and can be slightly
negative; unlike FD it has no bias that grows as the samples get smaller.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from monai.metrics.fid import get_fid_score
from scipy.linalg import LinAlgWarning


def check_pair(a: np.ndarray, b: np.ndarray, least: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected feature sets (N, D) and (M, D), got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < least:
        raise ValueError(f"need at least {least} feature vectors per set, got {len(a)} and "
                         f"{len(b)}")
    return a, b


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between the Gaussians fitted to ``a`` and ``b``."""
    a, b = check_pair(a, b, least=2)
    with warnings.catch_warnings():
        # a singular covariance (fewer vectors than dimensions, dead channels) is expected here
        warnings.simplefilter("ignore", LinAlgWarning)
        warnings.filterwarnings("ignore", "The `disp` argument", DeprecationWarning)  # MONAI's
        return float(get_fid_score(torch.from_numpy(a), torch.from_numpy(b)))


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equally large sets with k(x, y) = (x.y / D + 1)^3."""
    m, dim = x.shape
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_distance(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """KID: (mean, std) of the unbiased polynomial-kernel MMD^2 over random subsets."""
    a, b = check_pair(a, b, least=2)
    m = min(subset_size, len(a), len(b))
    if m == len(a) == len(b):  # every subset is the whole of both sets
        subsets = 1
    rng = np.random.default_rng(seed)
    values = [polynomial_mmd2(a[rng.choice(len(a), m, replace=False)],
                              b[rng.choice(len(b), m, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))
