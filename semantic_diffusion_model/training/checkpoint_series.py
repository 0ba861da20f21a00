"""The numbered checkpoint files of a training run: ``<prefix>_<number>.pt`` in its folder.

Diffusion training numbers them by step (checkpoint_0000500.pt), Gamma-VAE training by epoch
(autoencoder_0003.pt); both list, find the newest and keep the newest k the same way here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from echo_from_noise import storage


@dataclass(frozen=True)
class CheckpointSeries:
    prefix: str  # the file name before "_<number>.pt"
    digits: int  # the number's width, zero-padded

    def name(self, number: int) -> str:
        return f"{self.prefix}_{number:0{self.digits}d}.pt"

    def list(self, folder: str) -> list[tuple[int, str]]:
        """(number, path) of the series' files in a folder, oldest first."""
        pattern = re.compile(rf"^{re.escape(self.prefix)}_(\d+)\.pt$")
        found = [(int(m.group(1)), storage.join(folder, name)) for name in storage.listdir(folder)
                 if (m := pattern.match(name))]
        return sorted(found)

    def latest(self, folder: str) -> str | None:
        found = self.list(folder)
        return found[-1][1] if found else None

    def prune(self, folder: str, keep: int) -> None:
        """Delete all but the newest ``keep`` files of the series (keep = 0: delete nothing)."""
        if keep > 0:
            for _, path in self.list(folder)[:-keep]:
                storage.remove(path)
