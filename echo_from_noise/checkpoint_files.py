"""Checkpoint files of every program: dictionaries written with torch.save, read back safely.

Reading uses ``torch.load(weights_only=True)`` (tensors and plain data only: a foreign or malicious
file cannot run code); whatever fails to load is one line "<path>: not a readable checkpoint
(<reason>)", and a dictionary of another program is refused by its ``kind`` entry. Writing goes
through ``storage.open_atomic`` (local path or URL): a failed write leaves nothing under the final
name, and a full disk is "<path>: cannot write (No space left on device)". A ``CheckpointFormat``
names its dictionaries by a format and a version instead, and brings older versions up to date.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from . import storage
from .errors import UserError


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type name when the message is empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def save_torch(path: str | Path, content: dict[str, Any]) -> None:
    """Write ``content`` atomically; a failed write on the disk's side is a UserError."""
    try:
        with storage.open_atomic(str(path)) as f:
            torch.save(content, f)  # to a Python file, so a failed write's OSError stays visible
    except (OSError, RuntimeError) as error:
        user_error = storage.write_error(str(path), error)
        if user_error is None:
            raise
        raise user_error from None


def _load(path: str | Path) -> Any:
    if storage.is_url(str(path)):
        import blobfile as bf  # only URLs need it (a slow import)
        with bf.BlobFile(str(path), "rb") as f:
            return torch.load(f, map_location="cpu", weights_only=True)
    # memory-mapped: only the tensors actually used are read
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def load_torch(path: str | Path, kind: str, what: str, key: str = "kind") -> dict[str, Any]:
    """The dictionary saved at ``path``, on the CPU, checked to hold ``content[key] == kind``;
    otherwise a UserError "<path>: not <what> (<key> <found>)", e.g. what = "an
    echo_segmentation checkpoint"."""
    if not storage.is_file(str(path)):
        raise UserError(f"{path}: checkpoint not found")
    try:
        content = _load(path)
    except Exception as error:  # truncated, not a torch file, or holding unsafe objects
        raise UserError(f"{path}: not a readable checkpoint ({first_line(error)})") from None
    found = content.get(key) if isinstance(content, dict) else type(content).__name__
    if not isinstance(content, dict) or found != kind:
        raise UserError(f"{path}: not {what} ({key} {found!r})")
    return content


def load_weights(network: torch.nn.Module, weights: dict[str, torch.Tensor], path: str | Path) -> None:
    """``network.load_state_dict(weights)``; a UserError if they do not fit its configuration."""
    try:
        network.load_state_dict(weights)
    except RuntimeError as error:
        raise UserError(f"{path}: weights do not fit the configuration stored with them "
                        f"({first_line(error)})") from None


@dataclass(frozen=True)
class CheckpointFormat:
    """Checkpoints whose dictionary holds "format" and "version" entries (the diffusion model's and
    the Gamma-VAE's): ``save`` writes both, ``read`` refuses another format or a version it cannot
    read, and brings an older version it can read up to date (``upgrades``: version -> a function
    that changes such a dictionary, in place, into the current version)."""

    format: str
    version: int
    what: str  # "a Gamma-VAE checkpoint of this project": "<path>: not <what> (format ...)"
    name: str  # "Gamma-VAE checkpoint": "<path>: <name> version 3 is not supported (...)"
    upgrades: Mapping[int, Callable[[dict[str, Any]], None]] = field(default_factory=dict)

    def save(self, path: str | Path, state: dict[str, Any]) -> None:
        """Write atomically (local or URL); a full disk is a UserError and leaves nothing."""
        save_torch(path, {"format": self.format, "version": self.version, **state})

    def read(self, path: str | Path) -> dict[str, Any]:
        """The checkpoint at ``path`` on the CPU, in the current version; a UserError naming the
        file when it is not one this code reads."""
        state = load_torch(path, self.format, self.what, key="format")
        version = state.get("version")
        if isinstance(version, int) and version in self.upgrades:
            self.upgrades[version](state)
            state["version"] = self.version
        elif version != self.version:
            readable = [str(v) for v in sorted([*self.upgrades, self.version])]
            versions = (f"versions {', '.join(readable[:-1])} and {readable[-1]}"
                        if len(readable) > 1 else f"version {readable[0]}")
            raise UserError(f"{path}: {self.name} version {version} is not supported (this code "
                            f"reads {versions})")
        return state
