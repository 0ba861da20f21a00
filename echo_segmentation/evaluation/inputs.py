"""The images an evaluation compares, read and checked before anything is written.

- the synthetic set, a step-3 samples root: SAMPLES/<VIEW>/samples/<name>.png, each with the sector
  map it was generated from in SAMPLES/<VIEW>/labels/<name>.png (same size); its view is the view
  folder, its map the name without the _s<k> of extra seeds (echo_from_noise.contract.map_of_sample);
- the real frames of a step-1 extraction root: the training split (what a generator may have
  copied), the testing split (the real reference) and, when there is one, the validation split
  (frames no generator trained on: the source frames of held-out maps), with their CAMUS
  annotations.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from echo_from_noise.contract import (SAMPLE_LABELS_FOLDER, SAMPLES_FOLDER, SECTOR_CLASSES, VIEWS,
                                      map_of_sample, stem_parts)
from echo_from_noise.errors import UserError
from echo_from_noise.files import list_pngs, read_labelled_image, require_folder

from ..data import dataset_folders, list_pairs, read_pair


@dataclass
class ImageSet:
    """Images with their label maps (sector maps for synthetic, CAMUS labels for real images)."""

    names: list[str]
    views: list[str]  # e.g. "2CH_ED"
    patients: list[str]
    images: list[np.ndarray]  # uint8 (H, W)
    labels: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.names)

    def of_view(self, view: str) -> np.ndarray:
        """Indices of the images of one view."""
        return np.array([i for i, v in enumerate(self.views) if v == view], dtype=int)

    def subset(self, index: np.ndarray) -> "ImageSet":
        """The images at ``index``, in that order."""
        return ImageSet(*([values[i] for i in index] for values in
                          (self.names, self.views, self.patients, self.images, self.labels)))

    @property
    def maps(self) -> list[str]:
        """The label map each image was generated from (its own name for a real image)."""
        return [map_of_sample(n) for n in self.names]


def synthetic_views(samples_dir: Path, views: tuple[str, ...]) -> list[str]:
    """The views of ``views`` that the samples root holds samples of."""
    present = [v for v in views if (samples_dir / v / SAMPLES_FOLDER).is_dir()]
    if not present:
        raise UserError(f"{samples_dir}: no <VIEW>/{SAMPLES_FOLDER}/ folder for views "
                        f"{' '.join(views)} (expected the step-3 layout of the sampling program)")
    return present


def read_synthetic(samples_dir: str | Path, views: tuple[str, ...] = VIEWS) -> ImageSet:
    """Every synthetic image of the chosen views and the sector map it was generated from."""
    samples_dir = require_folder(samples_dir, "samples folder")
    names, image_views, patients, images, labels = [], [], [], [], []
    paths = [(v, p) for v in synthetic_views(samples_dir, views)
             for p in list_pngs(samples_dir / v / SAMPLES_FOLDER)]
    if not paths:
        raise UserError(f"{samples_dir}: no synthetic images in <VIEW>/{SAMPLES_FOLDER}/")
    for view, path in tqdm(paths, desc="reading synthetic images", leave=False):
        label_path = samples_dir / view / SAMPLE_LABELS_FOLDER / path.name
        if not label_path.is_file():
            raise UserError(f"{path}: no label map {label_path} (a synthetic set needs the map "
                            "each image was generated from)")
        image, label = read_labelled_image(path, label_path, SECTOR_CLASSES)
        names.append(path.stem)
        image_views.append(view)
        patients.append(stem_parts(path.stem)["patient"])
        images.append(image)
        labels.append(label)
    sizes = sorted({im.shape for im in images})
    if len(sizes) > 1:
        raise UserError(f"{samples_dir}: synthetic images of different sizes "
                        f"({', '.join(f'{h}x{w}' for h, w in sizes)}); one set has one size")
    return ImageSet(names, image_views, patients, images, labels)


def read_real(extract_dir: str | Path, split: str, views: list[str],
              optional: bool = False) -> ImageSet:
    """The real frames and CAMUS annotations of one split of a step-1 extraction root (none when
    ``optional`` and the split has no image folder)."""
    folders = dataset_folders(extract_dir, tuple(views))
    if optional and not any((f / "images" / split).is_dir() for f in folders):
        return ImageSet([], [], [], [], [])
    pairs = list_pairs(extract_dir, split, tuple(views))
    read = [read_pair(p) for p in tqdm(pairs, desc=f"reading real {split} images", leave=False)]
    parts = [stem_parts(p.stem) for p in pairs]
    return ImageSet([p.stem for p in pairs], [q["view"] for q in parts],
                    [q["patient"] for q in parts], [im for im, _ in read], [lab for _, lab in read])
