"""Local paths and object-store URLs (gs://, az://, via blobfile) behind one small interface.

Local files go through echo_from_noise.files (atomic writes); URLs go through blobfile, whose
objects only appear once the upload has completed, so both are written all-or-nothing.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from .errors import UserError
from .files import atomic_path, check_writable

URL_PREFIXES = ("gs://", "az://", "https://")


def is_url(path: str) -> bool:
    return str(path).startswith(URL_PREFIXES)


def join(folder: str, *names: str) -> str:
    if is_url(folder):
        import blobfile as bf  # only URLs need it (a slow import)
        return bf.join(folder, *names)
    return str(Path(folder, *names))


def exists(path: str) -> bool:
    if is_url(path):
        import blobfile as bf  # only URLs need it (a slow import)
        return bf.exists(path)
    return os.path.exists(path)


def is_file(path: str) -> bool:
    if is_url(path):
        import blobfile as bf  # only URLs need it (a slow import)
        return bf.exists(path) and not bf.isdir(path)
    return os.path.isfile(path)


def listdir(folder: str) -> list[str]:
    """Names in a folder, sorted; [] if it does not exist. Hidden (temporary) names are left out."""
    if is_url(folder):
        import blobfile as bf  # only URLs need it (a slow import)
        names = [n.rstrip("/") for n in bf.listdir(folder)] if bf.isdir(folder) else []
    else:
        names = os.listdir(folder) if os.path.isdir(folder) else []
    return sorted(n for n in names if not n.startswith("."))


def read_bytes(path: str) -> bytes:
    try:
        if is_url(path):
            import blobfile as bf  # only URLs need it (a slow import)
            with bf.BlobFile(path, "rb") as f:
                return f.read()
        return Path(path).read_bytes()
    except (OSError, FileNotFoundError) as error:
        raise UserError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None


@contextlib.contextmanager
def open_atomic(path: str) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through, all-or-nothing: a temporary name renamed into
    place when the block ends (local) or an upload completed then (URL)."""
    if is_url(path):
        import blobfile as bf  # only URLs need it (a slow import)
        with bf.BlobFile(path, "wb") as f:
            yield f
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f


def write_error(path: str, error: BaseException) -> UserError | None:
    """"<path>: cannot write (<reason>)" if an OSError caused ``error`` (torch.save wraps its
    file's OSError in a RuntimeError); None for any other failure (a bug, not the disk)."""
    while error is not None and not isinstance(error, OSError):
        error = error.__cause__ or error.__context__
    if error is None:
        return None
    return UserError(f"{path}: cannot write ({error.strerror or error})")


def write_bytes(path: str, data: bytes) -> None:
    """Write a whole file at once (atomically for local paths)."""
    try:
        with open_atomic(path) as f:
            f.write(data)
    except OSError as error:
        raise write_error(path, error) from None


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """A local file with the content of ``path``: the path itself, or a download of a URL
    (deleted afterwards; a UserError about it names the URL)."""
    if not is_url(path):
        yield path
        return
    with tempfile.TemporaryDirectory() as folder:
        local = str(Path(folder, Path(path).name))
        Path(local).write_bytes(read_bytes(path))
        try:
            yield local
        except UserError as error:
            raise UserError(str(error).replace(local, path)) from None


def remove(path: str) -> None:
    if is_url(path):
        import blobfile as bf  # only URLs need it (a slow import)
        bf.remove(path)
    else:
        Path(path).unlink(missing_ok=True)


def ensure_writable_folder(folder: str) -> None:
    """Create the folder (local) and check it can be written; UserError otherwise."""
    if is_url(folder):
        import blobfile as bf  # only URLs need it (a slow import)
        probe = bf.join(folder, ".write-test")
        write_bytes(probe, b"")
        remove(probe)
    else:
        check_writable(folder)

