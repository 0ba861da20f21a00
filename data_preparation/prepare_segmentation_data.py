"""Build a segmentation dataset (docs/data_contract.md, step 4) from generated samples or from real frames.

--source synthetic (default): the diffusion model's samples (step 3)

    SAMPLES/<VIEW>/samples/<name>.png   synthetic image,  SAMPLES/<VIEW>/labels/<name>.png  sector map

become training/validation pairs with CAMUS labels (sector 0->0, 1->1, 2->0, 3->2, 4->3); the
split comes from the name (patientNNNN_<VIEW>_<split>_<k>). --source real: the real extracted
training/validation frames of step 1 (the real-data baseline). --source real+synthetic: both
(what people do with a generator: add its images to the real ones). --patient-fraction F keeps
the training and validation pairs (real and synthetic) of only a fraction F of each split's
patients, chosen by patient with --seed (echo_from_noise.contract.chosen_patients): the few-label
rows, whose synthetic images are those made from their own patients' maps. Either way the real
extracted testing split (step 1) is copied alongside, so the result is

    OUT/<dataset>/{images,annotations}/{training,validation,testing}/<name>.png

Several --views are merged into one dataset (default name: the view, or all_views; real_...
for --source real). All inputs are read and checked before anything is created (on bad input not
even OUT); the dataset replaces an older one of the same name as a whole.
OUT/<dataset>/dataset_config.json records how it was made.

Examples:
    python -m data_preparation.prepare_segmentation_data --samples-dir /tmp/samples \\
        --extract-dir /tmp/extract --out-dir /tmp/seg --views 2CH_ED 2CH_ES 4CH_ED 4CH_ES
    python -m data_preparation.prepare_segmentation_data --source real --extract-dir /tmp/extract \\
        --out-dir /tmp/seg
    python -m data_preparation.prepare_segmentation_data --source real+synthetic \\
        --samples-dir /tmp/samples --extract-dir /tmp/extract --out-dir /tmp/seg --patient-fraction 0.1
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from echo_from_noise.cli import program, required, save_config
from echo_from_noise.contract import (CAMUS_CLASSES, DATASET_CONFIG_FILE, SECTOR_CLASSES,
                                      SPACING_FILE, SPLITS, VIEWS, chosen_patients,
                                      segmentation_dataset_name,
                                      image_label_folders,
                                      image_label_paths, sample_folders, sector_to_camus,
                                      stem_parts)
from echo_from_noise.errors import UserError
from echo_from_noise.files import (atomic_path, check_writable, list_pngs, read_json,
                                   read_labelled_image, require_folder, write_png)
from echo_from_noise.resize import resize_image, resize_labels
from echo_from_noise.staging import check_all_inputs, staged_folder

CONFIG_FILE = DATASET_CONFIG_FILE
SOURCE_SPLITS = ("training", "validation")  # from --source; testing is always real
SOURCES = ("synthetic", "real", "real+synthetic")


@dataclass
class Config:
    extract_dir: str = required("step 1 root (extract_camus output): the real testing split, and "
                                "the real training/validation frames for --source real")
    out_dir: str = required("output root (step 4 layout)")
    source: str = field(default="synthetic", metadata={
        "help": "training/validation data: synthetic samples (step 3), real frames (step 1), or both",
        "choices": SOURCES})
    samples_dir: str | None = field(default=None, metadata={
        "help": "step 3 root: <VIEW>/samples/<name>.png and <VIEW>/labels/<name>.png "
                "(required with --source synthetic)"})
    views: tuple[str, ...] = field(default=VIEWS, metadata={
        "help": "views to include (several are merged into one dataset)", "choices": VIEWS})
    dataset_name: str | None = field(default=None, metadata={
        "help": "dataset folder name (default: the view, or all_views; prefixed real_ for "
                "--source real)"})
    size: int | None = field(default=None, metadata={
        "help": "resize every image/label to SIZE x SIZE (default: keep; sizes must then agree)"})
    patient_fraction: float = field(default=1.0, metadata={
        "help": "keep the training and validation pairs (real and synthetic) of only this fraction "
                "of each split's patients (at least one), chosen by patient with --seed"})
    seed: int = field(default=0, metadata={"help": "seed of the choice of patients (--patient-fraction)"})


@dataclass(frozen=True)
class Pair:
    split: str
    name: str
    image_path: Path
    label_path: Path
    sector_labels: bool  # the label file is a sector map (0..4), else CAMUS labels (0..3)


def dataset_name(config: Config) -> str:
    if config.dataset_name:
        if "/" in config.dataset_name or config.dataset_name.startswith("."):
            raise UserError(f"--dataset-name {config.dataset_name!r}: must be a plain folder name")
        return config.dataset_name
    name = config.views[0] if len(config.views) == 1 else "all_views"
    return segmentation_dataset_name(config.source, name, config.patient_fraction)


def real_pairs(extract_dir: Path, view: str, split: str) -> list[Pair]:
    image_dir, label_dir = image_label_folders(extract_dir / view, split)
    images = list_pngs(image_dir)
    if not images:
        raise UserError(f"{image_dir}: no extracted images (empty {split} split)")
    return [Pair(split, p.stem, p, label_dir / p.name, False) for p in images]


def synthetic_pairs(samples_dir: Path, view: str) -> list[Pair]:
    sample_dir, label_dir = sample_folders(samples_dir, view)
    samples = list_pngs(sample_dir)
    if not samples:
        raise UserError(f"{sample_dir}: no generated samples")
    pairs, skipped = [], 0
    for path in samples:
        split = stem_parts(path.stem)["split"]
        if split == "testing":
            skipped += 1  # the test set is always real
            continue
        if split not in SOURCE_SPLITS:
            raise UserError(f"{path}: cannot tell the split from the name (expected "
                            "patientNNNN_<VIEW>_<training|validation>_<k>.png)")
        pairs.append(Pair(split, path.stem, path, label_dir / path.name, True))
    unsampled = len({p.stem for p in list_pngs(label_dir)} - {p.stem for p in samples})
    if skipped or unsampled:
        print(f"note: {view}: {skipped} samples of testing maps skipped (testing stays real), "
              f"{unsampled} label maps without a sample", file=sys.stderr)
    for split in SOURCE_SPLITS:
        if not any(p.split == split for p in pairs):
            raise UserError(f"{sample_dir}: no samples of the {split} split")
    return pairs


def view_pairs(config: Config, extract_dir: Path, view: str) -> list[Pair]:
    """One view's training and validation pairs (synthetic, real or both) and its real testing pairs."""
    pairs = []
    if "synthetic" in config.source.split("+"):
        pairs += synthetic_pairs(Path(config.samples_dir), view)
    if "real" in config.source.split("+"):
        pairs += [p for split in SOURCE_SPLITS for p in real_pairs(extract_dir, view, split)]
    return pairs + real_pairs(extract_dir, view, "testing")


def few_patients(config: Config, extract_dir: Path) -> dict[str, set[str]]:
    """split -> the patients kept by --patient-fraction, from each split's real extracted frames."""
    kept = {}
    for split in SOURCE_SPLITS:
        patients = {stem_parts(p.name)["patient"] for view in config.views
                    for p in real_pairs(extract_dir, view, split)}
        kept[split] = set(chosen_patients(patients, config.patient_fraction, config.seed))
    return kept


def keep_patients(pairs: list[Pair], kept: dict[str, set[str]], fraction: float) -> list[Pair]:
    """The testing pairs and the training/validation pairs of the kept patients."""
    chosen = [p for p in pairs if p.split == "testing" or stem_parts(p.name)["patient"] in kept[p.split]]
    for split in SOURCE_SPLITS:
        if not any(p.split == split for p in chosen):
            raise UserError(f"--patient-fraction {fraction}: no {split} pairs of the chosen "
                            f"patients {' '.join(sorted(kept[split]))}")
    return chosen


def check_unique_names(pairs: list[Pair]) -> None:
    """Merged views must not bring two files of one name into the same split."""
    seen: dict[tuple[str, str], Path] = {}
    for pair in pairs:
        key = (pair.split, pair.name)
        if key in seen:
            raise UserError(f"{pair.image_path}: name {pair.name} already taken by {seen[key]}")
        seen[key] = pair.image_path


def collect_pairs(config: Config) -> list[Pair]:
    extract_dir = require_folder(config.extract_dir, "extraction folder")
    if "synthetic" in config.source.split("+"):
        if not config.samples_dir:
            raise UserError(f"--samples-dir is required with --source {config.source}")
        require_folder(config.samples_dir, "samples folder")
    pairs = [pair for view in config.views for pair in view_pairs(config, extract_dir, view)]
    if config.patient_fraction < 1:
        pairs = keep_patients(pairs, few_patients(config, extract_dir), config.patient_fraction)
    check_unique_names(pairs)
    return pairs


def load_pair(pair: Pair, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The image and its CAMUS labels, checked, resized to ``size`` if given."""
    classes = SECTOR_CLASSES if pair.sector_labels else CAMUS_CLASSES
    image, labels = read_labelled_image(pair.image_path, pair.label_path, classes)
    if pair.sector_labels:
        labels = sector_to_camus(labels)
    if size:
        image, labels = resize_image(image, size), resize_labels(labels, size)
    return image, labels


def copy_test_spacing(extract_dir: Path, dataset: Path, pairs: list[Pair], size: int | None) -> None:
    """Carry the real test frames' pixel spacing (EXTRACT/spacing.json) into the dataset, so that
    testing from it reports distances in mm. Skipped with --size (the spacing would change)."""
    source = extract_dir / SPACING_FILE
    if size is not None or not source.is_file():
        return
    spacing = read_json(source)
    known = {p.name: spacing[p.name] for p in pairs if p.split == "testing" and p.name in spacing}
    if known:
        with atomic_path(dataset / SPACING_FILE) as tmp:
            tmp.write_text(json.dumps(known, indent=1))


def check_pairs(pairs: list[Pair], size: int | None) -> None:
    """Read every pair once (values, sizes, one size for all) before anything is created."""
    shapes: dict[tuple[int, int], Path] = {}

    def check(pair: Pair) -> None:
        image, _ = load_pair(pair, size)
        shapes.setdefault(image.shape, pair.image_path)
        if len(shapes) > 1:
            sizes = ", ".join(f"{s} ({p})" for s, p in shapes.items())
            raise UserError(f"{pair.image_path}: image sizes differ within the dataset: "
                            f"{sizes}; choose one with --size")

    check_all_inputs(pairs, check, unit="pair")


def check_options(config: Config) -> None:
    if config.size is not None and config.size < 8:
        raise UserError(f"--size {config.size}: must be at least 8 pixels")
    if not 0 < config.patient_fraction <= 1:
        raise UserError(f"--patient-fraction must be in (0, 1], got {config.patient_fraction}")


def prepare_segmentation_data(config: Config) -> Path:
    check_options(config)
    name = dataset_name(config)
    pairs = collect_pairs(config)
    check_pairs(pairs, config.size)
    out_root = check_writable(config.out_dir)
    counts: Counter = Counter()
    with staged_folder(out_root / name) as staging:
        for pair in tqdm(pairs, desc=f"dataset {name}", unit="pair"):
            image, labels = load_pair(pair, config.size)
            image_path, label_path = image_label_paths(staging, pair.split, pair.name)
            write_png(image_path, image)
            write_png(label_path, labels)
            counts[pair.split] += 1
        copy_test_spacing(Path(config.extract_dir), staging, pairs, config.size)
        patients = {split: sorted({stem_parts(p.name)["patient"] for p in pairs if p.split == split})
                    for split in SPLITS}
        save_config(config, staging / CONFIG_FILE,
                    extra={"dataset": name, "pairs": {s: counts[s] for s in SPLITS},
                           "patients": {s: len(v) for s, v in patients.items()},
                           "training_patients": patients["training"]})
    print(f"dataset {name}: " + ", ".join(f"{counts[s]} {s}" for s in SPLITS)
          + f" pairs in {out_root / name}")
    return out_root / name


CONFIG = Config  # (what the pipeline checks its options with)
main = program(CONFIG, prepare_segmentation_data, __doc__)


if __name__ == "__main__":
    main()
