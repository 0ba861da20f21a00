"""The training pairs as latents of a Gamma-VAE, for latent diffusion (the follow-up's EDM-L models).

Each training image is encoded once, at the start of a run, to its posterior mean E[z] = alpha /
beta (never a draw from the prior: the follow-up's released code trained on prior noise by
mistake), and so is its mirror image, so that a random flip gives the latent of the flipped image
rather than a flipped latent. The latents are standardised over all their pixels to the data
standard deviation the formulation assumes, z' = (z - shift) / scale with shift the mean of E[z]
over the whole training set and scale its standard deviation / sigma_data, so that the latents have
std sigma_data (EDM's c_skip, c_out and c_in rely on it) like the pixel data. shift, scale and the
rule are stored in the checkpoint so sampling can undo them before decoding. (Runs before this
version standardised over the sector pixels only, to std 1: the whole latent then had std ~1.4,
about three times the sigma_data = 0.5 of EDM; their checkpoints keep and decode with their own
shift and scale.) The condition is the sector map at the latent size (nearest).
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
    rule: str  # how shift and scale were measured (STANDARDISATION or the older "sector, std 1")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def standardisation(self) -> dict:
        return {"latent_shift": self.shift, "latent_scale": self.scale,
                "latent_standardisation": self.rule}

    def clean_inputs(self, index: torch.Tensor, flip: torch.Tensor, device: torch.device,
                     channels: int = 1) -> torch.Tensor:
        """The network's clean inputs x0 of the pairs ``index``: the latent of each image, of its
        mirror image where ``flip`` (never a mirrored latent)."""
        return torch.where(flip[:, None, None, None], self.flipped[index],
                           self.latents[index]).to(device, non_blocking=True)

    @property
    def data_std(self) -> float:
        """The standard deviation of the standardised training latents (all pixels)."""
        return float(self.latents.std())


STANDARDISATION = "all pixels, std sigma_data"


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


def latent_pairs(data: PairData, autoencoder, sigma_data: float,
                 standardisation: dict | None = None, progress: bool = False) -> LatentData:
    """Encode every pair of ``data`` (maps and images at the autoencoder's image size),
    standardised to std ``sigma_data`` over all latent pixels, or with the shift and scale of
    ``standardisation`` (those of the checkpoint a run resumes)."""
    latents = encode(autoencoder, data.images, progress=progress)
    flipped = encode(autoencoder, data.images.flip(-1), progress=progress, desc="encoding (mirrored)")
    size = latents.shape[-1]
    maps = torch.from_numpy(np.stack([resize_labels(m, size) for m in data.maps.numpy()]))
    if standardisation:
        shift, scale = standardisation["latent_shift"], standardisation["latent_scale"]
        rule = standardisation.get("latent_standardisation", "sector, std 1")
    else:
        shift = float(latents.mean())
        scale = float(latents.std().clamp_min(1e-6)) / sigma_data
        rule = STANDARDISATION
    return LatentData(maps, (latents - shift) / scale, (flipped - shift) / scale, data.names,
                      shift, scale, rule)
