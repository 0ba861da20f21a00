"""The images of the view classifier and their labels, read from any of three layouts.

``data_dir`` is recognised in this order:
  samples     SAMPLES/<VIEW>/samples/<name>.png (step 3). The label is the view folder the sample
              lies in (the view of the map it was drawn from), the split comes from the name
              (patientNNNN_<VIEW>_<split>_<k>[...]); testing samples are skipped (testing is real).
  extraction  EXTRACT/<VIEW>/images/<split>/*.png (step 1); the label is the view folder.
  dataset     SEG/<dataset>/images/<split>/*.png (step 4); the view comes from the name.
Labels are indices into CLASS_NAMES[classes]: the chamber (2CH, 4CH) or the view itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from echo_from_noise.contract import (IMAGES_FOLDER, SAMPLES_FOLDER, VIEWS, image_label_folders,
                                      sample_folders, stem_parts)
from echo_from_noise.errors import UserError
from echo_from_noise.files import list_pngs, read_png, require_folder
from echo_from_noise.resize import resize_image

CLASS_NAMES: dict[str, tuple[str, ...]] = {"chamber": ("2CH", "4CH"), "view": VIEWS}
SAMPLE_SPLITS = ("training", "validation")


@dataclass
class ViewImage:
    stem: str
    path: Path
    view: str  # e.g. "2CH_ED"
    patient: str
    label: int  # index into CLASS_NAMES[classes]


def class_index(view: str, classes: str) -> int:
    """The label of an image of ``view`` ("2CH_ED" is 0 for 'chamber', 0 for 'view')."""
    names = CLASS_NAMES[classes]
    return names.index(view.split("_")[0] if classes == "chamber" else view)


def find_layout(data_dir: Path) -> tuple[str, list[str]]:
    """("samples" | "extraction" | "dataset", the view folders present)."""
    for layout, folder in (("samples", SAMPLES_FOLDER), ("extraction", IMAGES_FOLDER)):
        views = [v for v in VIEWS if (data_dir / v / folder).is_dir()]
        if views:
            return layout, views
    if (data_dir / IMAGES_FOLDER).is_dir():
        return "dataset", []
    raise UserError(f"{data_dir}: neither <VIEW>/samples/, <VIEW>/images/ nor images/ inside "
                    f"(expected a step-3, step-1 or step-4 folder)")


def sample_images(data_dir: Path, views: list[str], split: str) -> list[tuple[Path, str]]:
    """(path, view folder) of the samples of ``split``; a name without a split is an error."""
    found = []
    for view in views:
        for path in list_pngs(sample_folders(data_dir, view)[0]):
            name_split = stem_parts(path.stem)["split"]
            if name_split not in SAMPLE_SPLITS + ("testing",):
                raise UserError(f"{path}: no training or validation split in the name (expected "
                                f"patientNNNN_<VIEW>_<split>_<k>.png)")
            if name_split == split and split in SAMPLE_SPLITS:
                found.append((path, view))
    return found


def dataset_images(data_dir: Path, split: str) -> list[tuple[Path, str]]:
    """(path, view from the name) of a step-4 dataset folder's split."""
    found = []
    for path in list_pngs(image_label_folders(data_dir, split)[0]):
        view = stem_parts(path.stem)["view"]
        if view not in VIEWS:
            raise UserError(f"{path}: no view in the name (expected patientNNNN_<VIEW>_..., "
                            f"VIEW one of {', '.join(VIEWS)})")
        found.append((path, view))
    return found


def list_view_images(data_dir: str | Path, split: str, classes: str = "chamber"
                     ) -> list[ViewImage]:
    """Every image of ``split`` with its view and label; an empty split is an error."""
    data_dir = require_folder(data_dir, "data folder")
    layout, views = find_layout(data_dir)
    if layout == "samples":
        found = sample_images(data_dir, views, split)
        looked = f"<VIEW>/{SAMPLES_FOLDER}/*_{split}_*.png; testing is never synthetic"
    elif layout == "extraction":
        found = [(path, view) for view in views
                 for path in list_pngs(image_label_folders(data_dir / view, split)[0])]
        looked = f"<VIEW>/{IMAGES_FOLDER}/{split}/*.png"
    else:
        found = dataset_images(data_dir, split)
        looked = f"{IMAGES_FOLDER}/{split}/*.png"
    if not found:
        raise UserError(f"{data_dir}: no images in the '{split}' split (looked for {looked})")
    return [ViewImage(p.stem, p, view, stem_parts(p.stem)["patient"], class_index(view, classes))
            for p, view in found]


def load_images(images: list[ViewImage], size: int, progress: bool = True) -> np.ndarray:
    """All images read, checked (2-D grey) and resized to ``size`` x ``size``: uint8 (N, S, S)."""
    resized = np.empty((len(images), size, size), np.uint8)
    for i, item in enumerate(tqdm(images, desc="reading", leave=False, disable=not progress)):
        image = read_png(item.path)
        if image.ndim != 2:
            raise UserError(f"{item.path}: expected a 2-D grey image, got shape {image.shape}")
        resized[i] = resize_image(image, size)
    return resized
