"""Reading segmentation data sets: pairs of grey images and CAMUS label maps.

Two layouts are accepted for a folder DIR:
  dataset     DIR/images/<split>/*.png and DIR/annotations/<split>/*.png (step 4 of
              docs/data_contract.md, or one view folder EXTRACT/<VIEW> of the step-1 extraction)
  extraction  DIR/<VIEW>/images/<split>/*.png ... (the step-1 root; --views picks the views)
Every image must have its annotation with the same stem and the same size, and the other way round.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echo_from_noise.contract import (CAMUS_CLASSES, IMAGES_FOLDER, SPACING_FILE, VIEWS,
                                     image_label_folders, png_name)
from echo_from_noise.errors import UserError
from echo_from_noise.files import list_pngs, read_json, read_labelled_image, require_folder
from echo_from_noise.resize import resize_image, resize_labels


@dataclass
class Pair:
    stem: str
    image: Path
    label: Path


def dataset_folders(data_dir: str | Path, views: tuple[str, ...] | None = None) -> list[Path]:
    """The dataset folders (each with images/ and annotations/) that ``data_dir`` stands for."""
    data_dir = require_folder(data_dir, "data folder")
    if (data_dir / IMAGES_FOLDER).is_dir():
        if views:
            raise UserError(f"{data_dir}: --views applies to an extraction root "
                            f"(<VIEW>/images/...), this is a single dataset folder")
        return [data_dir]
    present = [v for v in VIEWS if (data_dir / v / IMAGES_FOLDER).is_dir()]
    if not present:
        raise UserError(f"{data_dir}: neither images/ nor <VIEW>/images/ inside "
                        f"(expected docs/data_contract.md step 1 or 4 layout)")
    missing = [v for v in (views or ()) if v not in present]
    if missing:
        raise UserError(f"{data_dir}: no folder for view(s) {missing} (present: {present})")
    return [data_dir / v for v in (views or present)]


def list_pairs(data_dir: str | Path, split: str, views: tuple[str, ...] | None = None) -> list[Pair]:
    """All (image, annotation) pairs of one split; errors on a lonely file or an empty split."""
    pairs: list[Pair] = []
    for folder in dataset_folders(data_dir, views):
        image_dir, label_dir = image_label_folders(folder, split)
        images = {p.stem: p for p in list_pngs(image_dir)}
        labels = {p.stem: p for p in list_pngs(label_dir)}
        for stem in sorted(set(images) - set(labels)):
            raise UserError(f"{images[stem]}: no annotation {label_dir / png_name(stem)}")
        for stem in sorted(set(labels) - set(images)):
            raise UserError(f"{labels[stem]}: no image {image_dir / png_name(stem)}")
        pairs += [Pair(stem, images[stem], labels[stem]) for stem in sorted(images)]
    if not pairs:
        raise UserError(f"{data_dir}: no images in the '{split}' split "
                        f"(looked for images/{split}/*.png)")
    return pairs


def read_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 image and label map of a pair, checked (labels 0..3, same size)."""
    return read_labelled_image(pair.image, pair.label, CAMUS_CLASSES)


def load_resized(pairs: list[Pair], size: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs resized to ``size`` x ``size``: images (N, S, S) and labels (N, S, S), uint8."""
    images = np.empty((len(pairs), size, size), np.uint8)
    labels = np.empty_like(images)
    for i, pair in enumerate(pairs):
        image, label = read_pair(pair)
        images[i] = resize_image(image, size)
        labels[i] = resize_labels(label, size)
    return images, labels


def read_spacing(data_dir: str | Path) -> dict[str, list[float]]:
    """Pixel spacing in mm per stem from spacing.json (written by the extraction), if present.

    Looked for in the folder itself, then its parent (EXTRACT/spacing.json for EXTRACT/<VIEW>).
    """
    for folder in (Path(data_dir), Path(data_dir).parent):
        path = folder / SPACING_FILE
        if path.is_file():
            data = read_json(path)
            if not isinstance(data, dict):
                raise UserError(f"{path}: expected an object stem -> [row_mm, col_mm]")
            return data
    return {}
