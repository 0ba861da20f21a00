"""A picture of a few sector maps before and after augmentation, to check them at a glance."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echo_from_noise.contract import SECTOR_COLOURS, SECTOR_NAMES
from echo_from_noise.files import atomic_path


@dataclass
class Example:
    name: str
    image: np.ndarray  # real image (grey)
    sector_map: np.ndarray  # its sector map
    augmented: list[np.ndarray]  # augmented maps k = 0..


def save_augmentation_figure(path: str | Path, examples: list[Example]) -> None:
    """Rows: one map each (real image with the map's outline, the map, augmented maps k = 0..)."""
    import matplotlib  # here, not at the top: ~1 s to import, and only the figure needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    columns = 2 + max(len(e.augmented) for e in examples)
    fig, axes = plt.subplots(len(examples), columns, figsize=(1.9 * columns, 2.0 * len(examples)),
                             squeeze=False)
    for row, example in zip(axes, examples):
        row[0].imshow(example.image, cmap="gray", vmin=0, vmax=255)
        row[0].contour(example.sector_map > 0, levels=[0.5], colors="yellow", linewidths=0.6)
        row[0].set_title("image + map outline", fontsize=7)
        row[0].set_ylabel(example.name, fontsize=6)
        row[1].imshow(SECTOR_COLOURS[example.sector_map])
        row[1].set_title("sector map", fontsize=7)
        for k, augmented in enumerate(example.augmented):
            row[2 + k].imshow(SECTOR_COLOURS[augmented])
            row[2 + k].set_title(f"augmented k={k}", fontsize=7)
        for axis in row:
            axis.set_xticks([])
            axis.set_yticks([])
            if not axis.images:
                axis.axis("off")
    handles = [Patch(color=SECTOR_COLOURS[v] / 255, label=f"{v} {name}")
               for v, name in SECTOR_NAMES.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
