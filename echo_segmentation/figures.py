"""Figures of a test run: best / median / worst cases with contours, and a Dice box plot."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from echo_from_noise.contract import CAMUS_COLOURS  # noqa: E402
from echo_from_noise.files import atomic_path  # noqa: E402

from .metrics import STRUCTURE_NAMES, STRUCTURES, metric_column, structure_masks  # noqa: E402

# contour colour of each structure: the colour of its outermost label
CONTOUR_COLOURS = {s: CAMUS_COLOURS[max(v)] / 255.0 for s, v in STRUCTURES.items()}


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def draw_contours(ax: plt.Axes, image: np.ndarray, labels: np.ndarray) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    masks = structure_masks(labels)[0].numpy()
    for mask, structure in zip(masks, STRUCTURES):
        if mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors=[CONTOUR_COLOURS[structure]],
                       linewidths=1.2)
    ax.set_axis_off()


def mean_dice(row: dict) -> float:
    return float(np.mean([row[metric_column("dice", s)] for s in STRUCTURES]))


def pick_cases(rows: list[dict], per_kind: int = 2) -> list[tuple[str, int]]:
    """(kind, row index) of the best, median and worst images by mean Dice."""
    order = sorted(range(len(rows)), key=lambda i: mean_dice(rows[i]), reverse=True)
    per_kind = max(1, min(per_kind, len(order) // 3 or 1))
    middle = len(order) // 2 - per_kind // 2
    picks = ([("best", i) for i in order[:per_kind]]
             + [("median", i) for i in order[middle:middle + per_kind]]
             + [("worst", i) for i in order[-per_kind:]])
    return picks


def case_grid(rows: list[dict], images: list[np.ndarray], truths: list[np.ndarray],
              predictions: list[np.ndarray], path: str | Path, per_kind: int = 2) -> None:
    """One row per case: image | ground-truth contours | predicted contours."""
    picks = pick_cases(rows, per_kind)
    fig, axes = plt.subplots(len(picks), 3, figsize=(7.5, 2.6 * len(picks)), squeeze=False)
    for (kind, i), ax_row in zip(picks, axes):
        ax_row[0].imshow(images[i], cmap="gray", vmin=0, vmax=255)
        ax_row[0].set_axis_off()
        draw_contours(ax_row[1], images[i], truths[i])
        draw_contours(ax_row[2], images[i], predictions[i])
        dice = " / ".join(f"{rows[i][metric_column('dice', s)]:.3f}" for s in STRUCTURES)
        ax_row[0].set_title(f"{kind}: {rows[i]['stem']}", fontsize=8, loc="left")
        ax_row[1].set_title("ground truth", fontsize=8)
        ax_row[2].set_title(f"prediction, Dice {dice}", fontsize=8)
    handles = [plt.Line2D([], [], color=CONTOUR_COLOURS[s], label=STRUCTURE_NAMES[s])
               for s in STRUCTURES]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(fig, path)


def dice_boxplot(rows: list[dict], path: str | Path, title: str = "") -> None:
    """Box plot of per-image Dice (%) for each structure, points overlaid."""
    data = [[100 * r[metric_column("dice", s)] for r in rows] for s in STRUCTURES]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.boxplot(data, showfliers=False, medianprops={"color": "black"})
    ax.set_xticks(range(1, len(STRUCTURES) + 1), [STRUCTURE_NAMES[s] for s in STRUCTURES])
    rng = np.random.default_rng(0)
    for k, (values, structure) in enumerate(zip(data, STRUCTURES), start=1):
        ax.scatter(k + rng.uniform(-0.15, 0.15, len(values)), values, s=6, alpha=0.5,
                   color=CONTOUR_COLOURS[structure])
    ax.set_ylabel("Dice (%)")
    ax.set_title(title or f"Dice per structure ({len(rows)} images)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)
