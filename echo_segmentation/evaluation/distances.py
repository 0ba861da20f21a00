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

KID's 95 % interval (kid_replicates): a bootstrap that resamples patients (the groups; frames when
none are given) with replacement in each set, 2.5th and 97.5th percentiles of the replicates. A
replicate is the same U-statistic on the resampled rows, except that two copies of one row are never
paired (as a row is never paired with itself): with c_i the times row i was drawn,

    within(c) = (c^T K c - sum_i c_i^2 K_ii) / ((sum c)^2 - sum c^2),
    MMD^2(c, e) = within_x(c) + within_y(e) - 2 c^T K_xy e / (sum c sum e).

Pairing copies would add k(x, x), the kernel's largest values, and push every replicate above the
estimate: the interval of two samples of one distribution would then miss 0. With all c_i = 1 a
replicate is the estimate itself (tests/test_evaluation.py checks both, and that the
interval of a shifted Gaussian excludes 0).
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


def polynomial_kernels(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K_xx, K_yy, K_xy of k(x, y) = (x.y / D + 1)^3."""
    dim = x.shape[1]
    return tuple((u @ v.T / dim + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equally large sets with k(x, y) = (x.y / D + 1)^3."""
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernels(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def mmd2_of_counts(kernels: tuple[np.ndarray, np.ndarray, np.ndarray], cx: np.ndarray,
                   cy: np.ndarray) -> np.ndarray:
    """(B,) MMD^2 of B resamples given as counts cx (B, M) and cy (B, N) of each row (module
    docstring: copies of one row are not paired)."""
    k_xx, k_yy, k_xy = kernels

    def within(k: np.ndarray, c: np.ndarray) -> np.ndarray:
        pairs = c.sum(axis=1) ** 2 - (c ** 2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # one row drawn only: undefined
            return (((c @ k) * c).sum(axis=1) - (c ** 2) @ np.diag(k)) / pairs

    cross = ((cx @ k_xy) * cy).sum(axis=1) / (cx.sum(axis=1) * cy.sum(axis=1))
    return within(k_xx, cx) + within(k_yy, cy) - 2 * cross


def group_counts(groups: np.ndarray | list | None, rows: int, resamples: int,
                 rng: np.random.Generator) -> np.ndarray:
    """(resamples, rows): how often each row is drawn when its group (patient) is resampled with
    replacement; every row its own group when ``groups`` is None."""
    names, index = np.unique(np.asarray(groups if groups is not None else np.arange(rows)),
                             return_inverse=True)
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    per_group = np.stack([np.bincount(d, minlength=len(names)) for d in draws]) if resamples else \
        np.zeros((0, len(names)), dtype=int)
    return per_group[:, index].astype(np.float64)


def kid_replicates(a: np.ndarray, b: np.ndarray, resamples: int, rng: np.random.Generator,
                   groups_a=None, groups_b=None) -> np.ndarray:
    """Bootstrap replicates of the unbiased polynomial MMD^2 of ``a`` and ``b`` (NaN-free)."""
    a, b = check_pair(a, b, least=2)
    kernels = polynomial_kernels(a, b)
    values = mmd2_of_counts(kernels, group_counts(groups_a, len(a), resamples, rng),
                            group_counts(groups_b, len(b), resamples, rng))
    return values[np.isfinite(values)]


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
