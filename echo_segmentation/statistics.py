"""Summary statistics of per-image metrics: mean, std and patient-level bootstrap intervals.

Images of one patient are not independent (four views and phases of one heart), so the 95 %
confidence interval of a mean resamples patients with replacement (1000 times, fixed seed) and
takes the 2.5th and 97.5th percentiles of the resampled means. NaN values (undefined distances)
are left out of means and counts.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .metrics import METRICS, STRUCTURES, metric_column

COLUMNS = [metric_column(m, s) for m in METRICS for s in STRUCTURES]


def nan_to_none(value):
    """``value`` with every NaN float, however deeply nested in dicts and lists, as None (JSON null:
    an undefined number)."""
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_to_none(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def groups_of(rows: list[dict]) -> dict[str, list[dict]]:
    """Images overall, per view (2CH, 4CH), per phase (ED, ES) and per view and phase."""
    groups: dict[str, list[dict]] = {"all": rows}
    for key in ("view", "phase"):
        for value in sorted({r[key] for r in rows if r[key]}):
            groups[value] = [r for r in rows if r[key] == value]
    for pair in sorted({(r["view"], r["phase"]) for r in rows if r["view"] and r["phase"]}):
        groups["_".join(pair)] = [r for r in rows if (r["view"], r["phase"]) == pair]
    return groups


def bootstrap_interval(values: np.ndarray, patients: list[str], resamples: int,
                       rng: np.random.Generator) -> tuple[float, float]:
    """95 % interval of the mean of ``values`` when resampling ``patients`` with replacement."""
    names, index = np.unique(np.asarray(patients), return_inverse=True)
    valid = ~np.isnan(values)
    sums = np.bincount(index, weights=np.where(valid, values, 0.0), minlength=len(names))
    counts = np.bincount(index, weights=valid.astype(float), minlength=len(names))
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    means = means[~np.isnan(means)]
    if means.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def describe(rows: list[dict], resamples: int, seed: int,
             columns: Sequence[str] = COLUMNS) -> dict[str, dict]:
    """{column: {mean, std, ci_low, ci_high, n}} over ``rows`` (each with a "patient")."""
    rng = np.random.default_rng(seed)  # one generator, drawn from column after column
    patients = [r["patient"] for r in rows]
    result = {}
    for column in columns:
        values = np.array([r[column] for r in rows], dtype=float)
        finite = values[~np.isnan(values)]
        low, high = bootstrap_interval(values, patients, resamples, rng)
        result[column] = {
            "mean": float(finite.mean()) if finite.size else float("nan"),
            "std": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
            "ci_low": low, "ci_high": high, "n": int(finite.size),
        }
    return result


def summarise(rows: list[dict], resamples: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Statistics for every group of images (see ``groups_of``)."""
    return {name: {"num_images": len(group),
                   "num_patients": len({r["patient"] for r in group}),
                   "metrics": describe(group, resamples, seed)}
            for name, group in groups_of(rows).items()}
