"""The view classifier's figure: its confusion matrix (matplotlib, Agg; the PNG written atomically)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..figures import save_figure  # noqa: E402


def confusion_figure(matrix, classes: list[str], path: str | Path, title: str = "") -> None:
    """The confusion matrix (rows truth, columns prediction) shaded by row-normalised fraction,
    each cell annotated with its count and that fraction."""
    matrix = np.asarray(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        fractions = matrix / matrix.sum(axis=1, keepdims=True)
    size = 1.0 + 1.1 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    shown = ax.imshow(np.nan_to_num(fractions), cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        fraction = fractions[i, j]
        text = f"{count}\n{fraction:.0%}" if not np.isnan(fraction) else f"{count}"
        ax.text(j, i, text, ha="center", va="center", fontsize=9,
                color="white" if fraction > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted view")
    ax.set_ylabel("true view")
    ax.set_title(title, fontsize=9)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true view")
    save_figure(fig, path)
