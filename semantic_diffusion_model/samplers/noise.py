"""Per-sample random noise, so that a map's image does not depend on what it is batched with.

Every output has its own ``torch.Generator`` seeded from (global seed, map name). A sampler asks for
one noise tensor per step; each sample's slice is drawn from its own generator, on the CPU (so the
numbers are the same on every device), in the same order whatever the batch size, the number of
ranks or a restart.
"""
from __future__ import annotations

import hashlib

import torch


def noise_seed(seed: int, name: str) -> int:
    """A stable 63-bit seed for the map ``name`` under the global ``seed`` (independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class PerSampleNoise:
    """Standard normal noise of shape (N, *sample_shape), one generator per sample."""

    def __init__(self, seeds: list[int], sample_shape: tuple[int, ...],
                 device: torch.device | str = "cpu"):
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.sample_shape = tuple(sample_shape)
        self.device = torch.device(device)

    @classmethod
    def for_names(cls, seed: int, names: list[str], sample_shape: tuple[int, ...],
                  device: torch.device | str = "cpu") -> "PerSampleNoise":
        return cls([noise_seed(seed, n) for n in names], sample_shape, device)

    def __len__(self) -> int:
        return len(self.generators)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.generators), *self.sample_shape)

    def __call__(self) -> torch.Tensor:
        draws = [torch.randn(self.sample_shape, generator=g) for g in self.generators]
        return torch.stack(draws).to(self.device)
