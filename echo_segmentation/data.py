"""Reading segmentation data sets: pairs of grey images and CAMUS label maps.

Two layouts are accepted for a folder DIR:
  dataset     DIR/images/<split>/*.png and DIR/annotations/<split>/*.png (docs/data_contract.md step 4, or one
              view folder EXTRACT/<VIEW> of the step-1 extraction)
  extraction  DIR/<VIEW>/images/<split>/*.png ... (the step-1 root; --views picks the views)
Every image must have its annotation with the same stem and the same size, and the other way round.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from echo_from_noise.errors import UserError
from echo_from_noise.files import list_pngs, read_label_png, read_png
from echo_from_noise.contract import CAMUS_CLASSES, VIEWS


@dataclass
class Pair:
    stem: str
    image: Path
    label: Path


def dataset_folders(data_dir: str | Path, views: tuple[str, ...] | None = None) -> list[Path]:
    """The dataset folders (each with images/ and annotations/) that ``data_dir`` stands for."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: data folder not found")
    if (data_dir / "images").is_dir():
        if views:
            raise UserError(f"{data_dir}: --views applies to an extraction root "
                            f"(<VIEW>/images/...), this is a single dataset folder")
        return [data_dir]
    present = [v for v in VIEWS if (data_dir / v / "images").is_dir()]
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
        image_dir, label_dir = folder / "images" / split, folder / "annotations" / split
        images = {p.stem: p for p in list_pngs(image_dir)}
        labels = {p.stem: p for p in list_pngs(label_dir)}
        for stem in sorted(set(images) - set(labels)):
            raise UserError(f"{images[stem]}: no annotation {label_dir / (stem + '.png')}")
        for stem in sorted(set(labels) - set(images)):
            raise UserError(f"{labels[stem]}: no image {image_dir / (stem + '.png')}")
        pairs += [Pair(stem, images[stem], labels[stem]) for stem in sorted(images)]
    if not pairs:
        raise UserError(f"{data_dir}: no images in the '{split}' split "
                        f"(looked for images/{split}/*.png)")
    return pairs


def read_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 image and label map of a pair, checked (labels 0..3, same size)."""
    image = read_png(pair.image)
    label = read_label_png(pair.label, CAMUS_CLASSES)
    if image.shape != label.shape:
        raise UserError(f"{pair.label}: size {label.shape} differs from its image "
                        f"{pair.image} {image.shape}")
    return image, label


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA
                      if image.shape[0] > size else cv2.INTER_LINEAR)


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if labels.shape == tuple(shape):
        return labels
    # INTER_NEAREST samples the top-left source pixel (a half-pixel shift); _EXACT samples the centre
    return cv2.resize(labels, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST_EXACT)


def load_resized(pairs: list[Pair], size: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs resized to ``size`` x ``size``: images (N, S, S) and labels (N, S, S), uint8."""
    images = np.empty((len(pairs), size, size), np.uint8)
    labels = np.empty_like(images)
    for i, pair in enumerate(pairs):
        image, label = read_pair(pair)
        images[i] = resize_image(image, size)
        labels[i] = resize_labels(label, (size, size))
    return images, labels


def read_spacing(data_dir: str | Path) -> dict[str, list[float]]:
    """Pixel spacing in mm per stem from spacing.json (written by the extraction), if present.

    Looked for in the folder itself, then its parent (EXTRACT/spacing.json for EXTRACT/<VIEW>).
    """
    for folder in (Path(data_dir), Path(data_dir).parent):
        path = folder / "spacing.json"
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as error:
                raise UserError(f"{path}: not readable JSON ({error})") from None
            if not isinstance(data, dict):
                raise UserError(f"{path}: expected an object stem -> [row_mm, col_mm]")
            return data
    return {}
