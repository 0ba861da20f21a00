"""All-or-nothing output: check every input first, write into a hidden staging folder, and move
the outputs into place only on success.

A program that finds bad input half-way (an unreadable file, a wrong label value) must leave no
partial output behind. ``check_all_inputs(items, check)`` reads every input once before anything
is created. ``staged_output(out_dir)``: the files written under the staging folder are
renamed into ``out_dir`` (same relative paths, replacing older ones) when the block finishes.
``staged_folder(target)``: the staging folder replaces the folder ``target`` as a whole.
Staging folders left by killed runs (their process is gone) are removed on the next run.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")
PREFIX = ".staging-"


def check_all_inputs(items: Iterable[T], check: Callable[[T], object], unit: str) -> None:
    """Run ``check`` on every input (it raises UserError on a bad one) before any output exists.

    The bar shows only on a terminal, where it is erased afterwards, so a failure prints nothing
    but its error.
    """
    for item in tqdm(items, desc="check inputs", unit=unit, leave=False, disable=None):
        check(item)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is running (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(out_dir: Path) -> None:
    for folder in out_dir.glob(PREFIX + "*"):
        try:
            pid = int(folder.name[len(PREFIX):].split("-")[0])
        except ValueError:
            continue
        if not pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def publish(staging: Path, out_dir: Path) -> None:
    """Move every file of ``staging`` to the same relative path under ``out_dir``."""
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            target = out_dir / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)


@contextlib.contextmanager
def staged_output(out_dir: str | Path) -> Iterator[Path]:
    """Yield a staging folder inside ``out_dir``; publish its files there if the block succeeds."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_dir)
    staging = out_dir / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        publish(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; on success it replaces ``target`` whole."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target.parent)
    staging = target.parent / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        if target.exists():
            old = target.parent / f"{PREFIX}{os.getpid()}-old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
