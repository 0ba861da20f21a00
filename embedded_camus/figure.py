"""A figure of a CAMUS-format folder's frames: each patient's four views, image and label overlay.

Works on any folder in the NIfTI release layout (the synthetic set, or a real CAMUS download when
looking at it locally; never put real CAMUS images in the repository: licence).

Example:
    python -m embedded_camus.figure --camus-dir /tmp/synthetic_camus \
        --out docs/figures/synthetic_camus_examples.png --patients 1 2 3 --dpi 80
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nibabel
import numpy as np

from echo_from_noise.cli import program, required
from echo_from_noise.contract import CAMUS_COLOURS, VIEWS, camus_frame_paths, patient_name
from echo_from_noise.errors import UserError
from echo_from_noise.files import atomic_path


@dataclass
class Config:
    camus_dir: str = required("folder in the CAMUS NIfTI release layout "
                              "(database_nifti/patientNNNN/...)")
    out: str = required("output PNG")
    patients: tuple[int, ...] = field(default=(1, 2, 3), metadata={"help": "patient numbers"})
    dpi: int = field(default=110, metadata={"help": "resolution (each frame is 2.2 inches wide)"})


def read_frame(camus_dir: Path, number: int, view: str) -> tuple[np.ndarray, np.ndarray]:
    """Image and labels of one frame, transposed so that the apex is at the top."""
    arrays = []
    for path in camus_frame_paths(camus_dir, patient_name(number), view):
        if not path.is_file():
            raise UserError(f"{path}: file not found")
        arrays.append(np.asarray(nibabel.load(str(path)).dataobj).T)
    return arrays[0], arrays[1]


def overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    rgb = np.repeat(image[..., None], 3, axis=2).astype(np.float32)
    heart = labels > 0
    rgb[heart] = (1 - alpha) * rgb[heart] + alpha * CAMUS_COLOURS[labels[heart]]
    return rgb.astype(np.uint8)


def save_examples_figure(camus_dir: str | Path, path: str | Path,
                         patients: int | tuple[int, ...] = 3, dpi: int = 110) -> Path:
    """Rows: each patient's images, then their label overlays; columns: the four views."""
    import matplotlib  # here, not at the top: ~1 s to import, and only figures need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = tuple(range(1, patients + 1)) if isinstance(patients, int) else tuple(patients)
    fig, axes = plt.subplots(2 * len(numbers), len(VIEWS), squeeze=False,
                             figsize=(2.2 * len(VIEWS), 2.2 * 2 * len(numbers)))
    for row, number in enumerate(numbers):
        for col, view in enumerate(VIEWS):
            image, labels = read_frame(Path(camus_dir), number, view)
            top, bottom = axes[2 * row, col], axes[2 * row + 1, col]
            top.imshow(image, cmap="gray", vmin=0, vmax=255)
            bottom.imshow(overlay(image, labels))
            top.set_title(f"{patient_name(number)} {view}", fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.text(0.5, 0.005, "overlay: red LV cavity, green LV myocardium, blue left atrium",
             ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.015, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
    return path


def run(config: Config) -> None:
    save_examples_figure(config.camus_dir, config.out, config.patients, config.dpi)


main = program(Config, run, __doc__)


if __name__ == "__main__":
    main()
