"""The training pairs as latents of a Gamma-VAE, for latent diffusion (the follow-up's EDM-L models).

Each training image is encoded once, at the start of a run, to its posterior mean E[z] = alpha /
beta (never a draw from the prior: the follow-up's released code trained on prior noise by
mistake), and so is its mirror image, so that a random flip gives the latent of the flipped image
rather than a flipped latent. The latents are standardised inside the scan sector,
z' = (z - shift) / scale, with shift and scale the mean and standard deviation of E[z] over the
sector pixels of the whole training set; both are stored in the checkpoint so sampling can undo
them before decoding. The condition is the sector map at the latent size (nearest).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from echo_from_noise.resize import resize_labels
from .data import PairData


@dataclass
class LatentData:
    maps: torch.Tensor  # (N, h, w) uint8 sector maps at the latent size
    latents: torch.Tensor  # (N, 1, h, w) standardised E[z] of each image
    flipped: torch.Tensor  # (N, 1, h, w) the same of each mirrored image
    names: list[str]
    shift: float
    scale: float

    def __len__(self) -> int:
        return len(self.names)

    @property
    def standardisation(self) -> dict:
        return {"latent_shift": self.shift, "latent_scale": self.scale}


@torch.no_grad()
def encode(autoencoder, images: torch.Tensor, batch_size: int = 16, progress: bool = False,
           desc: str = "encoding") -> torch.Tensor:
    """E[z] of (N, H, W) uint8 images -> (N, 1, h, w) float32, on the autoencoder's device."""
    device = next(autoencoder.parameters()).device
    out = []
    for start in tqdm(range(0, len(images), batch_size), desc=desc, leave=False, disable=not progress):
        x = images[start:start + batch_size].to(device).float().div(255.0)[:, None]
        out.append(autoencoder.latent_mean(x).float().cpu())
    return torch.cat(out)


def latent_pairs(data: PairData, autoencoder, standardisation: dict | None = None,
                 progress: bool = False) -> LatentData:
    """Encode every pair of ``data`` (maps and images at the autoencoder's image size); the shift
    and scale are computed here unless given (those of the checkpoint a run resumes)."""
    latents = encode(autoencoder, data.images, progress=progress)
    flipped = encode(autoencoder, data.images.flip(-1), progress=progress, desc="encoding (mirrored)")
    size = latents.shape[-1]
    maps = torch.from_numpy(np.stack([resize_labels(m, size) for m in data.maps.numpy()]))
    if standardisation:
        shift, scale = standardisation["latent_shift"], standardisation["latent_scale"]
    else:
        inside = maps[:, None] != 0
        values = latents[inside] if inside.any() else latents.flatten()
        shift, scale = float(values.mean()), float(values.std().clamp_min(1e-6))
    return LatentData(maps, (latents - shift) / scale, (flipped - shift) / scale, data.names,
                      shift, scale)
