"""Figures of a synthetic-set evaluation (matplotlib, Agg; each PNG written atomically).

    worst_adherence_figure      per case: synthetic image | its map's contours | predicted contours
    closest_pairs_figure        per pair: synthetic image | its nearest training image
    nearest_distance_histogram  nearest-training distances of synthetic and of real test images,
                                with the memorisation threshold

Contours are those of the sampling program's combined panels (echo_from_noise.drawing.contours):
the sector outline in yellow and each heart class in its contract colour (SECTOR_COLOURS); a
prediction (CAMUS labels) is drawn inside the sector of the map the image was generated from.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from echo_from_noise.contract import (SECTOR_COLOURS, SECTOR_NAMES, SECTOR_OUTSIDE,  # noqa: E402
                                      camus_to_sector)
from echo_from_noise.drawing import HEART_CLASSES, contours  # noqa: E402

from ..figures import save_figure  # noqa: E402


def heart_legend(fig: plt.Figure) -> None:
    handles = [plt.Line2D([], [], color=SECTOR_COLOURS[c] / 255.0, label=SECTOR_NAMES[c])
               for c in HEART_CLASSES]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)


def show(ax: plt.Axes, image: np.ndarray, title: str) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def worst_adherence_figure(cases: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray, float]],
                           path: str | Path) -> None:
    """One row per (name, image, sector map, predicted CAMUS labels, mean Dice)."""
    if not cases:
        raise ValueError("no cases to draw")
    fig, axes = plt.subplots(len(cases), 3, figsize=(7.5, 2.6 * len(cases)), squeeze=False)
    for (name, image, sector_map, prediction, dice), row in zip(cases, axes):
        predicted_map = camus_to_sector(prediction, sector_map != SECTOR_OUTSIDE)
        show(row[0], image, f"{name}")
        show(row[1], contours(image, sector_map), "map it was generated from")
        show(row[2], contours(image, predicted_map), f"segmenter's prediction, Dice {dice:.3f}")
    heart_legend(fig)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(fig, path)


def closest_pairs_figure(pairs: Sequence[tuple[str, np.ndarray, str, np.ndarray, float, str]],
                         path: str | Path) -> None:
    """One row per (synthetic name, image, training name, image, value, what the value is)."""
    if not pairs:
        raise ValueError("no pairs to draw")
    fig, axes = plt.subplots(len(pairs), 2, figsize=(5.2, 2.6 * len(pairs)), squeeze=False)
    for (synthetic_name, synthetic, training_name, training, value, what), row in zip(pairs, axes):
        show(row[0], synthetic, f"synthetic {synthetic_name}")
        show(row[1], training, f"nearest training {training_name}\n{what} {value:.3f}")
    fig.tight_layout()
    save_figure(fig, path)


def nearest_distance_histogram(synthetic_distances: np.ndarray, test_distances: np.ndarray,
                               threshold: float, path: str | Path, xlabel: str) -> None:
    """Both distributions as overlaid densities, the threshold as a vertical line."""
    synthetic, test = np.asarray(synthetic_distances, float), np.asarray(test_distances, float)
    values = np.concatenate([synthetic, test, [threshold]])
    bins = np.linspace(values.min(), values.max(), 31) if np.ptp(values) > 0 else 30
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.hist(synthetic, bins=bins, density=True, alpha=0.55, color="tab:orange",
            label=f"synthetic (n={synthetic.size})")
    ax.hist(test, bins=bins, density=True, alpha=0.55, color="tab:blue",
            label=f"real test (n={test.size})")
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2,
               label=f"threshold {threshold:.3g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title("nearest training image", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)
