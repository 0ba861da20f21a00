"""Generate a synthetic CAMUS-format data set: a parametric heart rendered as echocardiograms.

Writes the layout of the official CAMUS NIfTI release (as ../shared/camus_224), so every program
that reads CAMUS reads it unchanged:

    OUT/database_nifti/patientNNNN/patientNNNN_{2CH,4CH}_{ED,ES}.nii.gz      image, uint8
    OUT/database_nifti/patientNNNN/patientNNNN_{2CH,4CH}_{ED,ES}_gt.nii.gz   labels, uint8
    OUT/database_split/subgroup_{training,validation,testing}.txt            split lists
    OUT/synthetic_camus_config.json                                          this configuration
    OUT/synthetic_camus_examples.png                                         a figure of examples

Labels: 0 background, 1 LV cavity, 2 LV myocardium, 3 left atrium. Arrays are oriented like the
official files: axis 0 runs across the sector, the apex is on the left (transpose to get the apex
at the top); the header gives the pixel size in mm. Each patient is a random heart (size, shape,
tilt, depth, wall thickness, right heart in 4CH, surrounding tissue) seen by a random scanner
(sector width and depth, gain, dynamic range, attenuation, beam width), the same for its four
frames. Each patient is a pure function of (seed, patient number, size), so a larger set with the
same seed and size holds a smaller one's patients unchanged (the split lists are drawn per set:
70/15/15 % by default, every split non-empty). The split lists are written last; a killed run
resumes with the same command.

Example:
    python -m embedded_camus.generate --out-dir /tmp/synthetic_camus --num-patients 60
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import nibabel
import numpy as np
from tqdm import tqdm

from echo_from_noise.cli import config_to_dict, program, require_at_least, required, save_config
from echo_from_noise.contract import (CAMUS_NIFTI_FOLDER, CAMUS_SPLIT_FOLDER, SPLITS, VIEWS,
                                      camus_frame_paths, camus_patient_folder, camus_split_list,
                                      patient_name)
from echo_from_noise.errors import UserError
from echo_from_noise.files import atomic_path, check_writable, read_json

from .figure import save_examples_figure
from .heart_phantom import HeartFrame, draw_anatomy
from .ultrasound_simulation import draw_scanner, simulate

CONFIG_FILE = "synthetic_camus_config.json"
FIGURE_FILE = "synthetic_camus_examples.png"
DEPTH_MM = (130.0, 170.0)  # physical depth of the image height, for the header's pixel size


@dataclass
class Config:
    out_dir: str = required("output folder (CAMUS NIfTI release layout); created if needed")
    num_patients: int = field(default=60, metadata={"help": "number of patients (4 frames each)"})
    seed: int = field(default=0, metadata={"help": "random seed: same seed, identical data set"})
    size: int = field(default=256, metadata={"help": "frame size in pixels (square)"})
    validation_fraction: float = field(default=0.15, metadata={
        "help": "fraction of patients in subgroup_validation.txt (at least one)"})
    testing_fraction: float = field(default=0.15, metadata={
        "help": "fraction of patients in subgroup_testing.txt (at least one); the rest train"})
    figure: bool = field(default=True, metadata={
        "help": f"save {FIGURE_FILE} (the first patients' frames with label overlays)"})


# the options that decide the data: a folder made with other values is never resumed or mixed
DATA_FIELDS = ("num_patients", "seed", "size", "validation_fraction", "testing_fraction")


@dataclass
class SyntheticPatient:
    frames: dict[str, tuple[np.ndarray, np.ndarray]]  # view -> (image, labels), apex at the top
    spacing_mm: tuple[float, float]  # (row, column) pixel size
    sector: np.ndarray  # bool mask of the ultrasound sector (the same for the four frames)


def render_patient(seed: int, number: int, size: int) -> SyntheticPatient:
    """One patient's four frames (rows = depth), a pure function of (seed, number, size)."""
    rng = np.random.default_rng([seed, number])
    anatomy, scanner = draw_anatomy(rng), draw_scanner(rng)
    row_mm = rng.uniform(*DEPTH_MM) / size
    frames = {}
    for index, view in enumerate(VIEWS):
        heart = HeartFrame(anatomy, view, view.split("_")[1])
        frame_rng = np.random.default_rng([seed, number, index])
        image, pixels = simulate(heart.echogenicity, scanner, size, frame_rng)
        labels = heart.labels(pixels.x, pixels.y)
        labels[~pixels.sector] = 0
        frames[view] = (image, labels)
    return SyntheticPatient(frames, (row_mm, row_mm / scanner.stretch), pixels.sector)


def split_patients(num_patients: int, seed: int, validation: float,
                   testing: float) -> dict[str, list[int]]:
    """Random disjoint split of patients 1..N, every split non-empty, lists sorted."""
    n_val = max(1, round(validation * num_patients))
    n_test = max(1, round(testing * num_patients))
    if n_val + n_test >= num_patients:
        raise UserError(f"--num-patients {num_patients}: too few for a training split with "
                        f"{n_val} validation and {n_test} testing patients")
    order = np.random.default_rng([seed, 0]).permutation(np.arange(1, num_patients + 1))
    return {"training": sorted(order[n_val + n_test:].tolist()),
            "validation": sorted(order[:n_val].tolist()),
            "testing": sorted(order[n_val:n_val + n_test].tolist())}


def write_nifti(path: Path, array: np.ndarray, spacing_mm: tuple[float, float]) -> None:
    """uint8 NIfTI (.nii.gz) with pixel size ``spacing_mm`` along (axis 0, axis 1), written
    atomically and byte-for-byte reproducibly (gzip mtime 0)."""
    affine = np.diag([spacing_mm[0], spacing_mm[1], 1.0, 1.0])
    volume = nibabel.Nifti1Image(np.ascontiguousarray(array, dtype=np.uint8), affine)
    volume.header.set_data_dtype(np.uint8)
    volume.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(volume.to_bytes(), compresslevel=6, mtime=0))


def patient_complete(root: Path, number: int) -> bool:
    return all(path.is_file() for view in VIEWS
               for path in camus_frame_paths(root, patient_name(number), view))


def write_patient(root: Path, seed: int, number: int, size: int) -> None:
    camus_patient_folder(root, patient_name(number)).mkdir(parents=True, exist_ok=True)
    patient = render_patient(seed, number, size)
    row_mm, column_mm = patient.spacing_mm
    for view, (image, labels) in patient.frames.items():
        image_path, label_path = camus_frame_paths(root, patient_name(number), view)
        # stored like the official files: axis 0 across the sector (the transpose of rows = depth)
        write_nifti(label_path, labels.T, (column_mm, row_mm))
        write_nifti(image_path, image.T, (column_mm, row_mm))


def check_config(config: Config) -> None:
    if config.num_patients < 3:
        raise UserError(f"--num-patients {config.num_patients}: need at least 3 (one per split)")
    if config.num_patients > 9999:
        raise UserError(f"--num-patients {config.num_patients}: at most 9999 (patientNNNN names)")
    if config.size < 32:
        raise UserError(f"--size {config.size}: must be at least 32 pixels")
    require_at_least(config, seed=0)
    for name in ("validation_fraction", "testing_fraction"):
        if not 0.0 <= getattr(config, name) < 0.5:
            option = "--" + name.replace("_", "-")
            raise UserError(f"{option} {getattr(config, name)}: must be in [0, 0.5)")


def check_existing(root: Path, config: Config) -> None:
    """Refuse to mix with a different data set; the same settings resume."""
    saved_path = root / CONFIG_FILE
    if saved_path.is_file():
        saved = read_json(saved_path)
        wanted = config_to_dict(config)
        different = [k for k in DATA_FIELDS if saved.get(k) != wanted[k]]
        if different:
            raise UserError(f"{saved_path}: {root} holds a set made with other settings "
                            f"({', '.join(different)}); use another --out-dir or remove it")
    elif (root / CAMUS_NIFTI_FOLDER).exists() or (root / CAMUS_SPLIT_FOLDER).exists():
        raise UserError(f"{root}: already holds a CAMUS-like data set not made by this program "
                        f"(no {CONFIG_FILE}); refusing to overwrite it")


def write_split_lists(root: Path, splits: dict[str, list[int]]) -> None:
    for split in SPLITS:
        path = camus_split_list(root, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text("".join(f"{patient_name(n)}\n" for n in splits[split]))


def generate(config: Config, progress: bool = True) -> Path:
    check_config(config)
    root = Path(config.out_dir)
    check_writable(root)
    check_existing(root, config)
    splits = split_patients(config.num_patients, config.seed, config.validation_fraction,
                            config.testing_fraction)
    save_config(config, root / CONFIG_FILE, extra={
        "program": "embedded_camus.generate",
        "patients_per_split": {s: len(splits[s]) for s in SPLITS}})
    todo = [n for n in range(1, config.num_patients + 1) if not patient_complete(root, n)]
    for number in tqdm(todo, desc="synthetic CAMUS patients", unit="patient", disable=not progress):
        write_patient(root, config.seed, number, config.size)
    write_split_lists(root, splits)  # last: their presence marks a complete set
    if config.figure:
        save_examples_figure(root, root / FIGURE_FILE, patients=min(3, config.num_patients))
    return root


def make_synthetic_camus(out_dir: str | Path, num_patients: int = 60, seed: int = 0,
                         size: int = 256, figure: bool = False, progress: bool = False) -> Path:
    """Build (or complete) a synthetic CAMUS-format set in ``out_dir`` and return its path."""
    return generate(Config(out_dir=str(out_dir), num_patients=num_patients, seed=seed, size=size,
                           figure=figure), progress=progress)


CONFIG = Config  # (what the pipeline checks its options with)
main = program(CONFIG, generate, __doc__)


if __name__ == "__main__":
    main()
