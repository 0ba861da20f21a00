"""Realism at equal N: FD and KID of the synthetic set and of the floor, at one number of images.

FD's bias depends on the number of images: two samples of one distribution in a 256-d bottleneck
give FD 113 at N = 200 and 8.3 at N = 4000. So every comparison is made between sets of one size n:
the smallest set compared (or --realism-images, when smaller). In draw d (numpy
default_rng([seed, d])) the test patients are split into halves A and B (evaluation.floor),
and each set larger than n is subsampled to n images without replacement:

    synthetic_vs_test   n synthetic images  vs  n frames of half B
    floor               n frames of half A  vs  the same n frames of half B

Per comparison, over the draws: FD mean, std, min and max; KID (the unbiased MMD^2 of the n
against n images, evaluation.distances) mean, std, min and max; and KID's 95 % interval, the
headline: the 2.5th and 97.5th percentiles of its patient-bootstrap replicates (resamples split
evenly over the draws, pooled), so that it holds both the sampling and the subsampling spread.
"""
from __future__ import annotations

import math

import numpy as np

from .distances import check_pair, frechet_distance, kid_replicates, polynomial_mmd2
from .floor import split_halves


def draw_generator(seed: int, draw: int) -> np.random.Generator:
    return np.random.default_rng([seed, draw])


def largest_common_size(num_synthetic: int, test_patients: list[str], draws: int, seed: int) -> int:
    """The largest n every draw can give: the smallest of the synthetic set and of each half."""
    halves = [split_halves(test_patients, draw_generator(seed, d)) for d in range(draws)]
    return min(num_synthetic, *(len(h) for pair in halves for h in pair))


def subsample(size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n of ``size`` indices, without replacement, in increasing order (all of them when equal)."""
    return np.sort(rng.choice(size, n, replace=False)) if n < size else np.arange(size)


def spread(values: list[float], name: str) -> dict:
    v = np.asarray(values, dtype=float)
    return {name: float(v.mean()), f"{name}_std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            f"{name}_min": float(v.min()), f"{name}_max": float(v.max())}


def summary(fds: list[float], kids: list[float], replicates: list[np.ndarray], n: int) -> dict:
    pooled = np.concatenate(replicates) if replicates else np.zeros(0)
    low, high = (np.percentile(pooled, [2.5, 97.5]) if pooled.size else (math.nan, math.nan))
    return {"n": n, "draws": len(fds), **spread(fds, "fd"), **spread(kids, "kid"),
            "kid_ci_low": float(low), "kid_ci_high": float(high),
            "kid_bootstrap_replicates": int(pooled.size)}


def undefined_summary(n: int, draws: int) -> dict:
    """The fields of ``summary`` when the sets are too small (n < 2): all NaN."""
    return {"n": n, "draws": draws, **{f"{m}{s}": math.nan for m in ("fd", "kid")
                                       for s in ("", "_std", "_min", "_max")},
            "kid_ci_low": math.nan, "kid_ci_high": math.nan, "kid_bootstrap_replicates": 0}


def realism_at_equal_n(synthetic: np.ndarray, testing: np.ndarray, synthetic_groups: list[str],
                       test_patients: list[str], n: int, draws: int, resamples: int,
                       seed: int) -> dict:
    """{"synthetic_vs_test", "floor"} (see the module docstring) of features already
    standardised; groups are the patients resampled by KID's bootstrap."""
    check_pair(synthetic, testing, least=2)
    if n < 2:
        raise ValueError(f"FD and KID need at least 2 images per set, got n = {n}")
    per_draw = math.ceil(resamples / draws) if resamples else 0
    results = {"synthetic_vs_test": ([], [], []), "floor": ([], [], [])}
    groups = {"synthetic": np.asarray(synthetic_groups), "testing": np.asarray(test_patients)}
    for d in range(draws):
        rng = draw_generator(seed, d)
        half_a, half_b = split_halves(test_patients, rng)
        s = subsample(len(synthetic), n, rng)
        a, b = half_a[subsample(len(half_a), n, rng)], half_b[subsample(len(half_b), n, rng)]
        for name, x, gx in (("synthetic_vs_test", synthetic[s], groups["synthetic"][s]),
                            ("floor", testing[a], groups["testing"][a])):
            fds, kids, replicates = results[name]
            y, gy = testing[b], groups["testing"][b]
            fds.append(frechet_distance(x, y))
            kids.append(polynomial_mmd2(x, y))
            replicates.append(kid_replicates(x, y, per_draw, rng, gx, gy))
    return {name: summary(*values, n) for name, values in results.items()}
