"""The Gamma-VAE's training loss (weights: AutoencoderConfig; defaults the follow-up's):

    loss = recon_weight      x MSE(reconstruction of a sample z, image)
         + kl_weight         x mean over latent pixels INSIDE the sector of KL(posterior || prior)
         + latent_weight     x MSE(E[z], image average-pooled to the latent size)
         + perceptual_weight x feature MSE through a segmentation network (only with one given)

The KL is KL(posterior || prior) (the released code had it reversed). A latent pixel is inside the
sector when ANY image pixel of its factor x factor block is (map != 0), i.e. max-pooling of the
sector mask: the latent pixels on the sector's border, which carry image content, are regularised
too. Every term is averaged, so the weights do not depend on the image or batch size.

The perceptual network (--perceptual-network) is an echo_segmentation checkpoint, read through
that package's documented interface echo_segmentation.encoder.load_encoder; its first
PERCEPTUAL_BLOCKS encoder blocks, frozen, in eval mode, on inputs normalised as in its training,
give the features. It runs at the autoencoder's image size whatever size it was trained at (its
blocks are convolutions).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from echo_segmentation.encoder import load_encoder

from .config import AutoencoderConfig
from .gamma import gamma_kl

PERCEPTUAL_BLOCKS = 3


def latent_sector(sector: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, H, W) or (N, 1, H, W) sector mask -> (N, 1, H/f, W/f) float 0/1: 1 where any pixel of
    the block is inside."""
    mask = (sector if sector.dim() == 4 else sector[:, None]).float()
    return F.max_pool2d(mask, factor) if factor > 1 else mask


class PerceptualFeatures(nn.Module):
    """Feature MSE through the first encoder blocks of a trained segmentation network."""

    def __init__(self, path: str):
        super().__init__()
        encoder = load_encoder(path)
        self.blocks = nn.ModuleList(encoder.blocks[:PERCEPTUAL_BLOCKS])
        self.blocks.eval().requires_grad_(False)
        self.mean, self.std = encoder.normalisation["mean"], encoder.normalisation["std"]

    def train(self, mode: bool = True) -> "PerceptualFeatures":
        return super().train(False)  # frozen: batch norm keeps its running statistics

    def forward(self, recon: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        a, b = (recon - self.mean) / self.std, (image - self.mean) / self.std
        total = recon.new_zeros(())
        for block in self.blocks:
            a, b = block(a), block(b)
            total = total + F.mse_loss(a.float(), b.float())
        return total


class GammaVAELoss:
    def __init__(self, config: AutoencoderConfig, perceptual: PerceptualFeatures | None = None):
        self.config, self.perceptual = config, perceptual

    def __call__(self, image: torch.Tensor, sector: torch.Tensor, out: dict) -> dict:
        """image (N, 1, H, W) in [0, 1], sector mask (N, H, W), the network's output ->
        scalar terms loss, recon, kl, latent, perceptual (the last four unweighted)."""
        c = self.config
        recon = F.mse_loss(out["recon"].float(), image)
        inside = latent_sector(sector, c.latent_factor)
        kl_map = gamma_kl(out["alpha"], out["beta"], c.prior_alpha, c.prior_beta)
        kl = (kl_map * inside).sum() / inside.sum().clamp_min(1.0)
        latent = F.mse_loss(out["alpha"] / out["beta"], F.avg_pool2d(image, c.latent_factor)
                            if c.latent_factor > 1 else image)
        perceptual = (self.perceptual(out["recon"], image) if self.perceptual is not None
                      else image.new_zeros(()))
        loss = c.recon_weight * recon + c.kl_weight * kl + c.latent_weight * latent
        if self.perceptual is not None:
            loss = loss + c.perceptual_weight * perceptual
        return {"loss": loss, "recon": recon, "kl": kl, "latent": latent, "perceptual": perceptual}
