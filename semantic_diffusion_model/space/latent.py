"""Latent space: the network works on the standardised latents of a Gamma-VAE (latent diffusion).

A run trained with --autoencoder encodes its training images once (training.latents: the posterior
means, standardised by a shift and scale) and records in each checkpoint the autoencoder (path and a
digest of its weights), its image and latent sides and the standardisation. Sampling draws
standardised latents at the latent side, conditioned on the sector map at that side (nearest);
z = shift + scale x' undoes the standardisation and the autoencoder decodes z to the image at its
own size. The outputs (step 3) are those of a pixel model.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch

from echo_from_noise import storage
from echo_from_noise.errors import UserError
from ..autoencoder.checkpoint import load_autoencoder, weights_digest
from ..config import ModelConfig, sub_config
from ..training.latents import LatentData, latent_pairs


@dataclass
class LatentSpace:
    autoencoder: torch.nn.Module | None  # None once a training run has encoded its data
    path: str
    digest: str
    image_size: int  # side of the images read and written: the autoencoder's
    network_size: int  # the side the network works at: the latent side
    shift: float | None = None  # the standardisation (known once the data are encoded)
    scale: float | None = None
    rule: str = ""

    bounded = False  # standardised latents are not in [-1, 1]: no clipping of the denoised latent

    @classmethod
    def load(cls, path: str, device: torch.device | str = "cpu") -> "LatentSpace":
        """The space of the Gamma-VAE checkpoint ``path`` (a training run's --autoencoder)."""
        autoencoder = load_autoencoder(path, device)
        return cls(autoencoder, path if storage.is_url(path) else os.path.abspath(path),
                   weights_digest(autoencoder), autoencoder.config.image_size,
                   autoencoder.config.latent_size)

    @classmethod
    def of_checkpoint(cls, state: dict, checkpoint: str, override: str = "",
                      device: torch.device | str = "cpu") -> "LatentSpace":
        """The latent space of a loaded latent diffusion checkpoint; the autoencoder from
        ``override`` or the path the checkpoint recorded, checked to be the one it was trained with."""
        recorded = state["autoencoder"]
        path = override or recorded["path"]
        if not storage.exists(path):
            raise UserError(f"{checkpoint}: its autoencoder {path} is missing; give its new place "
                            "with --autoencoder")
        autoencoder = load_autoencoder(path, device)
        digest = weights_digest(autoencoder)
        if digest != recorded["digest"]:
            raise UserError(f"{checkpoint}: autoencoder {path} is not the one it was trained with "
                            f"(weights {digest} != {recorded['digest']})")
        return cls(autoencoder, path, digest, int(recorded["image_size"]),
                   int(recorded["latent_size"]), float(recorded["latent_shift"]),
                   float(recorded["latent_scale"]), recorded.get("latent_standardisation", ""))

    @property
    def description(self) -> str:
        return f"latents ({self.network_size} px) of {self.path}"

    @property
    def record(self) -> dict:
        """What a checkpoint stores of its space (its "autoencoder" entry)."""
        return {"path": self.path, "digest": self.digest, "image_size": self.image_size,
                "latent_size": self.network_size, "latent_shift": self.shift,
                "latent_scale": self.scale, "latent_standardisation": self.rule}

    @property
    def generation(self) -> dict:
        """What a sampled folder records of the space (sample_config.json)."""
        return {"autoencoder": self.digest}

    def network_config(self, config) -> ModelConfig:
        """The network's part of a training configuration: one latent channel at the latent side."""
        return replace(sub_config(ModelConfig, config), image_size=self.network_size, in_channels=1)

    def training_data(self, data, sigma_data: float, saved: dict | None = None,
                      progress: bool = False) -> LatentData:
        """The training pairs (at the image size) as the network sees them: their latents,
        standardised anew or with the standardisation of ``saved`` (the "autoencoder" entry of the
        checkpoint a run resumes). The autoencoder is released afterwards (training needs no more)."""
        latents = latent_pairs(data, self.autoencoder, sigma_data, saved, progress=progress)
        self.shift, self.scale, self.rule = latents.shift, latents.scale, latents.rule
        self.autoencoder = None
        return latents

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Standardised latents (N, 1, h, w) -> images (N, 1, H, W) in [-1, 1]."""
        z = (latents.float() * self.scale + self.shift).clamp_min(0.0)  # Gamma latents are >= 0
        return self.autoencoder.decode(z).float().clamp(0.0, 1.0) * 2.0 - 1.0
