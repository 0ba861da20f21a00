"""Sector maps and augmented sector maps from extracted CAMUS frames (docs/data_contract.md, step 2).

From step 1 (EXTRACT/<VIEW>/{images,annotations}/<split>/<stem>.png) it writes

    OUT/<VIEW>/sector_annotations/<split>/<stem>.png                 sector map (0..4) of every frame
    OUT/<VIEW>/images/<split>/<stem>.png                             the matching real image
    OUT/<VIEW>_augmented/sector_annotations/<split>/<stem>_<k>.png   k = 0..N-1, for --splits

Sector map: 0 outside the scan cone, 1 LV cavity, 2 tissue inside the cone, 3 LV myocardium,
4 left atrium; the cone is a solid mask of the real image (sector_mask.py). Each augmented map is a
random affine + B-spline elastic deformation (augmentation.py) with its own random stream seeded
by (--seed, the map's name, k): the same inputs and seed give byte-identical files, and one map's
outputs do not depend on which other maps are processed. Also writes OUT/labels_config.json and
OUT/augmentation_examples.png (a few maps before and after augmentation). All inputs are checked
before anything is written; outputs are replaced atomically, so re-running is safe.

Example:
    python -m data_preparation.prepare_labels --extract-dir /tmp/extract --out-dir /tmp/labels
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from echo_from_noise.cli import program, required, save_config
from echo_from_noise.contract import (AUGMENTED_SUFFIX, CAMUS_CLASSES, SPLITS, VIEWS,
                                      augmented_maps_folder, augmented_stem, augmented_view,
                                      camus_to_sector, image_label_folders, png_name,
                                      sector_map_folders)
from echo_from_noise.errors import UserError
from echo_from_noise.files import (atomic_path, check_writable, list_pngs, read_labelled_image,
                                   require_folder, write_png)
from echo_from_noise.staging import check_all_inputs

from .augmentation import augment_map, augmentation_rng
from .augmentation_figure import Example, save_augmentation_figure
from .sector_mask import sector_mask

CONFIG_FILE = "labels_config.json"
FIGURE_FILE = "augmentation_examples.png"
FIGURE_ROWS = 4


@dataclass
class Config:
    extract_dir: str = required("step 1 root (output of extract_camus)")
    out_dir: str = required("output root (step 2 layout)")
    num_augment: int = field(default=5, metadata={"help": "augmented maps per label map"})
    seed: int = field(default=0, metadata={"help": "seed of the augmentation"})
    views: tuple[str, ...] = field(default=VIEWS, metadata={"help": "views to prepare",
                                                            "choices": VIEWS})
    splits: tuple[str, ...] = field(default=("training", "validation"), metadata={
        "help": "splits to augment (the testing split always stays real)", "choices": SPLITS})
    threshold: int = field(default=0, metadata={
        "help": "grey level above which a pixel belongs to the scan cone (before hull filling)"})


@dataclass(frozen=True)
class Item:
    """One extracted frame (step 1) to turn into a sector map."""

    view: str
    split: str
    stem: str
    image_path: Path
    label_path: Path


# folder -> the names this run wrote there; older files in those folders are removed at the end
Written = dict[Path, set[str]]


def find_items(extract_dir: Path, views, augment_splits) -> list[Item]:
    """The extracted frames of ``views``; each image must have its annotation and vice versa."""
    items = []
    for view in views:
        for split in SPLITS:
            image_dir, label_dir = image_label_folders(extract_dir / view, split)
            images = {p.name: p for p in list_pngs(image_dir)}
            labels = {p.name: p for p in list_pngs(label_dir)}
            for name in sorted(set(images) ^ set(labels)):
                missing = (label_dir if name in images else image_dir) / name
                raise UserError(f"{missing}: file not found (its pair exists)")
            if not images and split in augment_splits:
                raise UserError(f"{image_dir}: no extracted frames for split {split!r} to augment")
            items += [Item(view, split, images[n].stem, images[n], labels[n])
                      for n in sorted(images)]
    return items


def read_item(item: Item, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """The image and CAMUS labels of one frame, checked (sizes, values, a visible sector)."""
    image, labels = read_labelled_image(item.image_path, item.label_path, CAMUS_CLASSES)
    if not (image > threshold).any():
        raise UserError(f"{item.image_path}: blank image, no ultrasound sector above grey "
                        f"level {threshold}")
    return image, labels


def write_real_pair(out_dir: Path, item: Item, sector: np.ndarray, written: Written) -> None:
    """The frame's sector map, and a byte copy of its real image beside it (diffusion training)."""
    image_dir, map_dir = sector_map_folders(out_dir, item.view, item.split)
    name = png_name(item.stem)
    for folder in (map_dir, image_dir):
        written.setdefault(folder, set()).add(name)
    write_png(map_dir / name, sector)
    with atomic_path(image_dir / name) as tmp:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(item.image_path.read_bytes())


def write_augmented_maps(out_dir: Path, item: Item, sector: np.ndarray, config: Config,
                         written: Written) -> list[np.ndarray]:
    """Maps k = 0..num_augment-1 of the frame, each from its own random stream."""
    folder = augmented_maps_folder(out_dir, item.view, item.split)
    names = written.setdefault(folder, set())  # also with none: older maps there are removed
    augmented = []
    for k in range(config.num_augment):
        augmented.append(augment_map(sector, augmentation_rng(config.seed, item.stem, k)))
        name = png_name(augmented_stem(item.stem, k))
        names.add(name)
        write_png(folder / name, augmented[-1])
    return augmented


def remove_stale(written: Written) -> None:
    """Delete the files an earlier run with other settings (or inputs) left in our folders."""
    for folder, names in written.items():
        for stale in list_pngs(folder):
            if stale.name not in names:
                stale.unlink()


def check_options(config: Config) -> None:
    if config.num_augment < 0:
        raise UserError(f"--num-augment {config.num_augment}: must be 0 or more")


def prepare_labels(config: Config) -> None:
    check_options(config)
    extract_dir = require_folder(config.extract_dir, "extraction folder")
    items = find_items(extract_dir, config.views, config.splits)
    if not items:
        raise UserError(f"{extract_dir}: no extracted frames for views {list(config.views)}")
    check_all_inputs(items, lambda item: read_item(item, config.threshold), unit="frame")
    out_dir = check_writable(config.out_dir)
    save_config(config, out_dir / CONFIG_FILE)

    counts: Counter = Counter()
    written: Written = {}
    examples: dict[str, Example] = {}
    for item in tqdm(items, desc="sector maps", unit="map"):
        image, labels = read_item(item, config.threshold)
        sector = camus_to_sector(labels, sector_mask(image, config.threshold))
        write_real_pair(out_dir, item, sector, written)
        counts[f"{item.view}/{item.split}"] += 1
        if item.split not in config.splits:
            continue
        augmented = write_augmented_maps(out_dir, item, sector, config, written)
        counts[f"{augmented_view(item.view)}/{item.split}"] += len(augmented)
        if item.view not in examples and len(examples) < FIGURE_ROWS and augmented:
            examples[item.view] = Example(item.stem, image, sector, augmented)

    remove_stale(written)
    if examples:
        save_augmentation_figure(out_dir / FIGURE_FILE, list(examples.values()))
    save_config(config, out_dir / CONFIG_FILE, extra={"maps": dict(sorted(counts.items()))})
    augmented_total = sum(v for k, v in counts.items() if AUGMENTED_SUFFIX in k)
    print(f"prepared {len(items)} sector maps and {augmented_total} augmented maps in {out_dir}")


CONFIG = Config  # (what the pipeline checks its options with)
main = program(CONFIG, prepare_labels, __doc__)


if __name__ == "__main__":
    main()
