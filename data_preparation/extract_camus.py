"""Extract CAMUS ED/ES frames to PNG folders (docs/data_contract.md, step 1).

Reads either CAMUS release (detected by itself: the 2023 NIfTI layout or the 2019 .mhd layout)
and writes, for every selected view and patient,

    OUT/<VIEW>/images/<split>/patientNNNN_<VIEW>_<split>.png       uint8 grey, apex at the top
    OUT/<VIEW>/annotations/<split>/patientNNNN_<VIEW>_<split>.png  CAMUS labels 0..3

resized to SIZE x SIZE (images by area/linear interpolation, labels nearest neighbour), plus
OUT/extract_config.json (this run's configuration) and OUT/spacing.json (stem -> [row_mm, col_mm]
after resizing, for the frames whose file gives a pixel spacing). Every frame is read and checked
before anything is written: on bad input not even OUT is created.

Example:
    python -m data_preparation.extract_camus --camus-dir ../shared/camus_224 --out-dir /tmp/extract
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from echo_from_noise.cli import program, required, save_config
from echo_from_noise.contract import SPACING_FILE, VIEWS, extract_pair_paths
from echo_from_noise.errors import UserError
from echo_from_noise.files import atomic_path, check_writable, read_json, write_png
from echo_from_noise.resize import resize_image, resize_labels
from echo_from_noise.staging import check_all_inputs, staged_output

from .camus_reader import open_camus, select_frames

CONFIG_FILE = "extract_config.json"


@dataclass
class Config:
    camus_dir: str = required("CAMUS download: the 2023 NIfTI release (database_nifti/, "
                              "database_split/) or the 2019 release (training/, testing/ with .mhd "
                              "files); detected automatically")
    out_dir: str = required("output root (step 1 layout)")
    size: int = field(default=256, metadata={"help": "output size in pixels (square)"})
    views: tuple[str, ...] = field(default=VIEWS, metadata={"help": "views to extract",
                                                            "choices": VIEWS})
    patients: tuple[int, ...] | None = field(default=None, metadata={
        "help": "only these patient numbers (e.g. 1 2 200); default all patients of the split lists"})


def _merge_spacing(out_dir: Path, spacing: dict[str, list[float]]) -> None:
    """Add this run's pixel sizes to those of earlier runs (e.g. with other --patients)."""
    path = out_dir / SPACING_FILE
    known = read_json(path) if path.is_file() else {}
    known.update(spacing)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(dict(sorted(known.items())), indent=1) + "\n")


def check_options(config: Config) -> None:
    if config.size < 8:
        raise UserError(f"--size {config.size}: must be at least 8 pixels")


def extract(config: Config) -> None:
    check_options(config)
    release = open_camus(config.camus_dir)
    frames = select_frames(release, config.views, config.patients)
    check_all_inputs(frames, release.read, unit="frame")
    out_dir = check_writable(config.out_dir)
    spacing: dict[str, list[float]] = {}
    counts: Counter = Counter()
    with staged_output(out_dir) as staging:
        for frame in tqdm(frames, desc="extract", unit="frame"):
            image, labels, pixel_mm = release.read(frame)
            image_path, label_path = extract_pair_paths(staging, frame.view, frame.split,
                                                        frame.stem)
            write_png(image_path, resize_image(image, config.size))
            write_png(label_path, resize_labels(labels, config.size))
            if pixel_mm is not None:
                spacing[frame.stem] = [pixel_mm[0] * image.shape[0] / config.size,
                                       pixel_mm[1] * image.shape[1] / config.size]
            counts[f"{frame.view}/{frame.split}"] += 1
    _merge_spacing(out_dir, spacing)
    save_config(config, out_dir / CONFIG_FILE,
                extra={"release": release.name, "frames": dict(sorted(counts.items()))})
    print(f"extracted {len(frames)} frames ({release.name}) to {out_dir}")


CONFIG = Config  # (what the pipeline checks its options with)
main = program(CONFIG, extract, __doc__)


if __name__ == "__main__":
    main()
