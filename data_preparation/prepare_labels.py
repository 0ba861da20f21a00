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

from tqdm import tqdm

from .augmentation import augment_map, augmentation_rng
from .augmentation_figure import Example, save_augmentation_figure
from echo_from_noise.errors import UserError
from echo_from_noise.cli import parse_config, run_program, save_config
from echo_from_noise.files import (atomic_path, check_writable, list_pngs, read_label_png,
                                   read_png, write_png)
from echo_from_noise.contract import CAMUS_CLASSES, SPLITS, VIEWS, camus_to_sector
from .sector_mask import sector_mask

CONFIG_FILE = "labels_config.json"
FIGURE_FILE = "augmentation_examples.png"
FIGURE_ROWS = 4


@dataclass
class Config:
    extract_dir: str = field(default="", metadata={
        "help": "step 1 root (output of extract_camus)", "required": True})
    out_dir: str = field(default="", metadata={"help": "output root (step 2 layout)",
                                               "required": True})
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
    view: str
    split: str
    image_path: Path
    label_path: Path

    @property
    def stem(self) -> str:
        return self.image_path.stem


def find_items(extract_dir: Path, views, augment_splits) -> list[Item]:
    """The extracted frames of ``views``; each image must have its annotation and vice versa."""
    items = []
    for view in views:
        for split in SPLITS:
            image_dir = extract_dir / view / "images" / split
            label_dir = extract_dir / view / "annotations" / split
            images = {p.name: p for p in list_pngs(image_dir)}
            labels = {p.name: p for p in list_pngs(label_dir)}
            for name in sorted(set(images) ^ set(labels)):
                missing = (label_dir if name in images else image_dir) / name
                raise UserError(f"{missing}: file not found (its pair exists)")
            if not images and split in augment_splits:
                raise UserError(f"{image_dir}: no extracted frames for split {split!r} to augment")
            items += [Item(view, split, images[n], labels[n]) for n in sorted(images)]
    return items


def read_item(item: Item, threshold: int):
    """The image and CAMUS labels of one frame, checked (sizes, values, a visible sector)."""
    image = read_png(item.image_path)
    labels = read_label_png(item.label_path, CAMUS_CLASSES)
    if image.shape != labels.shape:
        raise UserError(f"{item.label_path}: size {labels.shape} differs from the image "
                        f"{item.image_path} {image.shape}")
    if not (image > threshold).any():
        raise UserError(f"{item.image_path}: blank image, no ultrasound sector above grey "
                        f"level {threshold}")
    return image, labels


def prepare_labels(config: Config) -> dict[str, int]:
    if config.num_augment < 0:
        raise UserError(f"--num-augment {config.num_augment}: must be 0 or more")
    extract_dir = Path(config.extract_dir)
    if not extract_dir.is_dir():
        raise UserError(f"{extract_dir}: extraction folder not found")
    items = find_items(extract_dir, config.views, config.splits)
    if not items:
        raise UserError(f"{extract_dir}: no extracted frames for views {list(config.views)}")
    for item in tqdm(items, desc="check inputs", unit="frame", leave=False):
        read_item(item, config.threshold)  # all bad input is found before anything is written
    out_dir = check_writable(config.out_dir)
    save_config(config, out_dir / CONFIG_FILE)

    counts: Counter = Counter()
    written: dict[Path, set[str]] = {}
    examples: dict[str, Example] = {}
    for item in tqdm(items, desc="sector maps", unit="map"):
        image, labels = read_item(item, config.threshold)
        sector = camus_to_sector(labels, sector_mask(image, config.threshold))
        view_dir = out_dir / item.view
        for kind in ("sector_annotations", "images"):
            written.setdefault(view_dir / kind / item.split, set()).add(f"{item.stem}.png")
        write_png(view_dir / "sector_annotations" / item.split / f"{item.stem}.png", sector)
        with atomic_path(view_dir / "images" / item.split / f"{item.stem}.png") as tmp:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(item.image_path.read_bytes())
        counts[f"{item.view}/{item.split}"] += 1
        if item.split not in config.splits:
            continue
        aug_dir = out_dir / f"{item.view}_augmented" / "sector_annotations" / item.split
        names = written.setdefault(aug_dir, set())
        augmented = []
        for k in range(config.num_augment):
            augmented.append(augment_map(sector, augmentation_rng(config.seed, item.stem, k)))
            names.add(f"{item.stem}_{k}.png")
            write_png(aug_dir / f"{item.stem}_{k}.png", augmented[-1])
        counts[f"{item.view}_augmented/{item.split}"] += len(augmented)
        if item.view not in examples and len(examples) < FIGURE_ROWS and augmented:
            examples[item.view] = Example(item.stem, image, sector, augmented)

    for folder, names in written.items():  # files left by an earlier run with other settings
        for stale in list_pngs(folder):
            if stale.name not in names:
                stale.unlink()
    if examples:
        save_augmentation_figure(out_dir / FIGURE_FILE, list(examples.values()))
    save_config(config, out_dir / CONFIG_FILE, extra={"maps": dict(sorted(counts.items()))})
    print(f"prepared {len(items)} sector maps and "
          f"{sum(v for k, v in counts.items() if '_augmented' in k)} augmented maps in {out_dir}")
    return dict(counts)


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: prepare_labels(parse_config(Config, argv, __doc__)))


if __name__ == "__main__":
    main()
