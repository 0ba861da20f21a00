"""Reading and writing the project's files safely.

Every output is written to a temporary name in the same folder and renamed into place, so a killed
job never leaves a half-written file under a final name; re-running it skips what exists.
Every read checks what it got and raises ``UserError`` naming the file and the problem.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator

import cv2
import numpy as np

from .errors import UserError

PNG_SUFFIX = ".png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_temporaries(folder: str | Path, suffix: str = "") -> int:
    """Delete the temporary files of ``atomic_path`` that a killed run left in ``folder``
    (their outputs were never finished); ``suffix`` narrows it to e.g. ".png". Returns the count."""
    removed = 0
    for path in Path(folder).glob(f".*{suffix}.*.tmp"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def write_png(path: str | Path, array: np.ndarray) -> None:
    """Write a 2-D uint8 array as a grey PNG (or H x W x 3 as colour, RGB order), atomically."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_png expects uint8, got {array.dtype} for {path}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(PNG_SUFFIX, array)
    if not ok:
        raise UserError(f"{path}: could not encode PNG")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(encoded.tobytes())
    except OSError as error:
        raise UserError(f"{path}: cannot write ({error.strerror or error})") from None


def _png_is_whole(data: bytes) -> bool:
    """Whether every chunk after the signature is complete with a correct checksum, up to IEND."""
    view, pos = memoryview(data), len(PNG_SIGNATURE)
    while pos + 12 <= len(data):  # a chunk: length, type, data, CRC of type + data
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            return False
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(view[pos + 4:end - 4]) != crc:
            return False
        if kind == b"IEND":
            return True
        pos = end
    return False


def read_png(path: str | Path, color: bool = False) -> np.ndarray:
    """Read a PNG as uint8 (grey H x W, or RGB H x W x 3 with ``color``); UserError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    data = path.read_bytes()
    # checked before decoding: OpenCV prints its own warnings about a broken PNG to stderr
    if not data.startswith(PNG_SIGNATURE):
        raise UserError(f"{path}: not a readable image (not a PNG)")
    if not _png_is_whole(data):
        raise UserError(f"{path}: truncated or corrupt PNG")
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None:
        raise UserError(f"{path}: not a readable image")
    if color:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3:  # a colour PNG where grey was expected: keep the first channel
        if not (np.array_equal(image[..., 0], image[..., 1])
                and np.array_equal(image[..., 0], image[..., 2])):
            raise UserError(f"{path}: expected a grey image, got colour")
        image = image[..., 0]
    if image.dtype != np.uint8:
        raise UserError(f"{path}: expected 8-bit PNG, got {image.dtype}")
    return image


def read_label_png(path: str | Path, num_classes: int) -> np.ndarray:
    """Read a label map PNG and check every value is in 0..num_classes-1."""
    labels = read_png(path)
    bad = np.unique(labels[labels >= num_classes])
    if bad.size:
        raise UserError(
            f"{path}: label values {bad.tolist()} outside 0..{num_classes - 1}"
        )
    return labels


def read_labelled_image(image_path: str | Path, label_path: str | Path, num_classes: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """An image and its label map (values 0..num_classes-1), checked to have the same size."""
    image = read_png(image_path)
    labels = read_label_png(label_path, num_classes)
    if image.shape != labels.shape:
        raise UserError(f"{label_path}: size {labels.shape} differs from the image "
                        f"{image_path} {image.shape}")
    return image, labels


def write_csv(path: str | Path, fields: list[str], rows: Iterable[dict],
              digits: int | None = None) -> None:
    """Rows (dicts with the keys ``fields``) as a CSV file with a header, written atomically;
    with ``digits``, floats are written with that many significant digits."""
    def shown(row: dict) -> dict:
        return {k: (f"{v:.{digits}g}" if digits and isinstance(v, float) else v)
                for k, v in row.items()}

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(shown(row) for row in rows)


def read_json(path: str | Path) -> Any:
    """A JSON file's content; UserError naming the file if it cannot be read or parsed."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not readable JSON ({error})") from None


def require_folder(path: str | Path, what: str) -> Path:
    """``path`` as a Path; UserError "<path>: <what> not found" unless it is a folder."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: {what} not found")
    return path


def check_still_there(folder: str | Path, doing: str) -> None:
    """UserError if the output ``folder`` of a long job (a local path) was removed while it ran:
    the job stops rather than recreate it with only its later outputs."""
    if "://" not in str(folder) and not Path(folder).is_dir():
        raise UserError(f"{folder}: the output folder vanished while {doing}; nothing more was "
                        "written (run the command again to start over)")


def list_pngs(folder: str | Path) -> list[Path]:
    """The PNG files of a folder, sorted by name (temporary files are ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.suffix == PNG_SUFFIX and not p.name.startswith("."))


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check a file can be written in it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UserError(f"{folder}: output folder is not writable ({error.strerror or error})") from None
    return folder
