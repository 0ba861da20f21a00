"""Reading a CAMUS download, either release, into apex-up arrays.

Two layouts exist and are told apart by their folders:

- 2023 NIfTI release: ``database_nifti/patientNNNN/patientNNNN_<VIEW>[_gt].nii.gz`` with the
  official split in ``database_split/subgroup_{training,validation,testing}.txt``
  (docs/data_contract.md, "The CAMUS input"). nibabel returns the arrays with axis 0 across the
  sector and the apex on the left, so they are transposed.
- 2019 release: ``training/`` and ``testing/`` folders of ``patientNNNN`` with
  ``patientNNNN_<VIEW>[_gt].mhd`` (+ .raw). SimpleITK already returns rows = depth, apex at the
  top. Training patients 1-50 form the validation split (as in the published code).

``open_camus(root)`` detects the layout; ``release.frames(views, patients)`` lists what to read and
``release.read(frame)`` returns (image uint8, labels uint8 in 0..3, spacing in mm or None).
"""
from __future__ import annotations

import re
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from echo_from_noise.contract import (CAMUS_CLASSES, CAMUS_NIFTI_FOLDER, SPLITS, VIEWS,
                                      camus_frame_paths, camus_patient_folder, camus_split_list,
                                      frame_stem, patient_name)
from echo_from_noise.errors import UserError
from echo_from_noise.files import require_folder

from .metaimage import check_data_file

PATIENT_RE = re.compile(r"^patient(\d{4})$")
VALIDATION_PATIENTS_2019 = range(1, 51)  # training patients 1-50 become validation

Spacing = tuple[float, float]  # (row_mm, col_mm)


@dataclass(frozen=True)
class Frame:
    """One ED/ES frame of one patient and view, with the files that hold it."""

    patient: str  # patientNNNN
    view: str  # 2CH_ED, ...
    split: str  # training, validation, testing
    image_path: Path
    label_path: Path

    @property
    def stem(self) -> str:
        return frame_stem(self.patient, self.view, self.split)


def _as_image(array: np.ndarray, path: Path) -> np.ndarray:
    """Squeeze to 2-D and bring to uint8 (values outside 0..255 are rescaled min-max)."""
    array = np.squeeze(np.asarray(array))
    if array.ndim != 2:
        raise UserError(f"{path}: expected a 2-D frame, got shape {tuple(array.shape)}")
    if array.dtype == np.uint8:
        return array
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise UserError(f"{path}: image has non-finite values")
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        array = (array - low) / max(high - low, 1e-12) * 255.0
    return np.rint(array).astype(np.uint8)


def _as_labels(array: np.ndarray, path: Path) -> np.ndarray:
    """Squeeze to 2-D and check every value is a CAMUS label 0..3."""
    array = np.squeeze(np.asarray(array))
    if array.ndim != 2:
        raise UserError(f"{path}: expected a 2-D label map, got shape {tuple(array.shape)}")
    values = np.unique(array)
    bad = [v for v in values.tolist() if v not in range(CAMUS_CLASSES)]
    if bad:
        raise UserError(f"{path}: label values {bad[:5]} outside 0..{CAMUS_CLASSES - 1}")
    return array.astype(np.uint8)


def _check_pair(image: np.ndarray, labels: np.ndarray, frame: Frame) -> None:
    if image.shape != labels.shape:
        raise UserError(f"{frame.label_path}: label size {labels.shape} differs from image "
                        f"size {image.shape} of {frame.image_path.name}")


def _require_files(frame: Frame) -> None:
    for path in (frame.image_path, frame.label_path):
        if not path.is_file():
            raise UserError(f"{path}: file not found")


class CamusRelease(ABC):
    """What both releases share: each patient's split, the frames to read, and reading a frame.

    A release says where a frame's files are (``frame_files``), how to load one file (``load``:
    the volume with its header, and its array), how to turn an array apex-up (``apex_up``) and
    what pixel size a volume has (``spacing``).
    """

    name = ""

    def __init__(self, root: Path):
        self.root = root
        self.split_of: dict[str, str] = {}  # patientNNNN -> split

    def patients(self) -> list[str]:
        return sorted(self.split_of)

    def frames(self, views, patients) -> list[Frame]:
        return [Frame(p, v, self.split_of[p], *self.frame_files(p, v))
                for p in patients for v in views]

    def read(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, Spacing | None]:
        _require_files(frame)
        volume, image = self.load(frame.image_path)
        _, labels = self.load(frame.label_path)
        image = self.apex_up(_as_image(image, frame.image_path))
        labels = self.apex_up(_as_labels(labels, frame.label_path))
        _check_pair(image, labels, frame)
        return image, labels, self.spacing(volume)

    @abstractmethod
    def frame_files(self, patient: str, view: str) -> tuple[Path, Path]:
        """The image and label files of one patient's view."""

    @abstractmethod
    def load(self, path: Path) -> tuple[Any, np.ndarray]:
        """The volume (with its header) and the array of one file; UserError if unreadable."""

    @abstractmethod
    def apex_up(self, array: np.ndarray) -> np.ndarray:
        """The array as rows = depth, apex at the top."""

    @abstractmethod
    def spacing(self, volume: Any) -> Spacing | None:
        """The pixel size (row_mm, col_mm) of the apex-up frame, or None where unknown."""


class NiftiRelease(CamusRelease):
    """The 2023 CAMUS release (database_nifti + database_split)."""

    name = "nifti-2023"

    def __init__(self, root: Path):
        super().__init__(root)
        for split in SPLITS:
            list_file = camus_split_list(root, split)
            if not list_file.is_file():
                raise UserError(f"{list_file}: split list not found")
            for line in list_file.read_text().split():
                if not PATIENT_RE.match(line):
                    raise UserError(f"{list_file}: {line!r} is not a patient name (patientNNNN)")
                if line in self.split_of:
                    raise UserError(f"{list_file}: {line} is already listed in "
                                    f"{self._list_name(line)}")
                self.split_of[line] = split

    def _list_name(self, patient: str) -> str:
        return camus_split_list(self.root, self.split_of[patient]).name

    def frame_files(self, patient: str, view: str) -> tuple[Path, Path]:
        folder = camus_patient_folder(self.root, patient)
        if not folder.is_dir():
            raise UserError(f"{folder}: patient folder not found (listed in "
                            f"{self._list_name(patient)})")
        return camus_frame_paths(self.root, patient, view)

    def load(self, path: Path) -> tuple[Any, np.ndarray]:
        import nibabel  # here, not at the top: only this release needs it (0.3 s to import)

        try:
            volume = nibabel.load(str(path))
            return volume, np.asarray(volume.dataobj)
        except Exception as error:  # nibabel raises many types on a broken file
            raise UserError(f"{path}: cannot read NIfTI ({error})") from None

    def apex_up(self, array: np.ndarray) -> np.ndarray:
        return array.T  # stored with axis 0 across the sector, the apex on the left

    def spacing(self, volume: Any) -> Spacing | None:
        """Pixel size (row_mm, col_mm) of the transposed frame, or None when the file has none.

        A header with unknown units and unit zooms (e.g. camus_224, resized) carries no spacing.
        """
        col, row = (float(z) for z in volume.header.get_zooms()[:2])
        unit = volume.header.get_xyzt_units()[0]
        to_mm = {"mm": 1.0, "meter": 1000.0, "micron": 0.001}.get(unit)
        if to_mm is None:
            if (row, col) == (1.0, 1.0):
                return None
            to_mm = 1.0
        return row * to_mm, col * to_mm


class MhdRelease(CamusRelease):
    """The 2019 CAMUS release (training/ and testing/ folders of .mhd/.raw files)."""

    name = "mhd-2019"

    def __init__(self, root: Path):
        super().__init__(root)
        self.folder_of: dict[str, Path] = {}
        testing = sorted((root / "testing").glob("patient*")) if (root / "testing").is_dir() else []
        test_has_labels = any((root / "testing").glob("patient*/*_gt.mhd"))
        if testing and not test_has_labels:
            print(f"warning: {root / 'testing'} has no ground truth (*_gt.mhd): "
                  "the testing split is skipped", file=sys.stderr)
            testing = []
        for folder in sorted((root / "training").glob("patient*")) + testing:
            match = PATIENT_RE.match(folder.name)
            if not (match and folder.is_dir()):
                continue
            if folder.parent.name == "testing":
                split = "testing"
            elif int(match.group(1)) in VALIDATION_PATIENTS_2019:
                split = "validation"
            else:
                split = "training"
            self.split_of[folder.name] = split
            self.folder_of[folder.name] = folder

    def frame_files(self, patient: str, view: str) -> tuple[Path, Path]:
        folder = self.folder_of[patient]
        return folder / f"{patient}_{view}.mhd", folder / f"{patient}_{view}_gt.mhd"

    def load(self, path: Path) -> tuple[Any, np.ndarray]:
        import SimpleITK as sitk  # here, not at the top: only this release needs it (0.5 s)

        check_data_file(path)
        try:
            volume = sitk.ReadImage(str(path))
            return volume, sitk.GetArrayFromImage(volume)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
            raise UserError(f"{path}: cannot read MetaImage ({first})") from None

    def apex_up(self, array: np.ndarray) -> np.ndarray:
        return array  # SimpleITK already returns rows = depth, apex at the top

    def spacing(self, volume: Any) -> Spacing:
        col, row = volume.GetSpacing()[:2]
        return float(row), float(col)


def open_camus(root: str | Path) -> NiftiRelease | MhdRelease:
    """Detect the CAMUS release in ``root`` and open it."""
    root = require_folder(root, "CAMUS folder")
    if (root / CAMUS_NIFTI_FOLDER).is_dir():
        return NiftiRelease(root)
    if (root / "training").is_dir() and any((root / "training").glob("patient*/*.mhd")):
        return MhdRelease(root)
    raise UserError(f"{root}: not a CAMUS download (expected database_nifti/ and "
                    "database_split/ of the 2023 release, or training/patientNNNN/*.mhd of 2019)")


def select_frames(release: CamusRelease, views=VIEWS, patients=None) -> list[Frame]:
    """The frames of ``views`` for all patients, or only the patient numbers in ``patients``."""
    known = release.patients()
    if patients:
        wanted = [patient_name(int(n)) for n in patients]
        missing = [p for p in wanted if p not in release.split_of]
        if missing:
            raise UserError(f"{release.root}: patients {missing[:5]} not in this CAMUS download")
        known = sorted(set(wanted))
    if not known:
        raise UserError(f"{release.root}: no patients found")
    return release.frames(views, known)
