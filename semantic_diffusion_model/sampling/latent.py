"""Decoding a latent diffusion model's samples into images.

A checkpoint trained with --autoencoder records the Gamma-VAE (path and a digest of its weights)
and the standardisation of its latents (shift, scale). Sampling draws standardised latents at the
latent size, conditioned on the sector map at that size (nearest); z = shift + scale x' undoes the
standardisation and the autoencoder decodes z to the image at its own size. The outputs (step 3)
are those of a pixel model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from echo_from_noise import storage
from echo_from_noise.errors import UserError
from ..autoencoder.checkpoint import load_autoencoder, weights_digest


@dataclass
class LatentSpace:
    autoencoder: torch.nn.Module
    shift: float
    scale: float
    image_size: int
    latent_size: int
    digest: str

    @classmethod
    def of_checkpoint(cls, state: dict, checkpoint: str, override: str = "",
                      device: torch.device | str = "cpu") -> "LatentSpace | None":
        """The latent space of a loaded diffusion checkpoint (None for a pixel model); the
        autoencoder from ``override`` or the path the checkpoint recorded, checked to be the one
        it was trained with."""
        recorded = state.get("autoencoder")
        if not recorded:
            if override:
                raise UserError(f"{checkpoint}: a pixel model; --autoencoder is only for latent "
                                "models")
            return None
        path = override or recorded["path"]
        if not storage.exists(path):
            raise UserError(f"{checkpoint}: its autoencoder {path} is missing; give its new place "
                            "with --autoencoder")
        autoencoder = load_autoencoder(path, device)
        digest = weights_digest(autoencoder)
        if digest != recorded["digest"]:
            raise UserError(f"{checkpoint}: autoencoder {path} is not the one it was trained with "
                            f"(weights {digest} != {recorded['digest']})")
        return cls(autoencoder, float(recorded["latent_shift"]), float(recorded["latent_scale"]),
                   int(recorded["image_size"]), int(recorded["latent_size"]), digest)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Standardised latents (N, 1, h, w) -> images (N, 1, H, W) in [-1, 1]."""
        z = (latents.float() * self.scale + self.shift).clamp_min(0.0)  # Gamma latents are >= 0
        return self.autoencoder.decode(z).float().clamp(0.0, 1.0) * 2.0 - 1.0

