"""The Gamma-VAE: MONAI's AutoencoderKL encoder and decoder around ONE latent channel whose
posterior is Gamma(alpha, beta) per latent pixel.

Images are (N, 1, H, W) in [0, 1]. The encoder's two output channels become alpha and beta
(softplus + a floor, so both stay positive); the latent side is H / 2^(len(channels) - 1). The
decoder's output is linear (no sigmoid: the black outside the sector needs no saturated logits);
whoever needs an image clamps it to [0, 1].

Determinism of the sample: torch.distributions.Gamma(...).rsample() (reparameterised through
torch._standard_gamma) takes no generator and draws from the global RNG of the tensor's device.
``forward(x, generator)`` therefore takes one seed from the given generator and draws under
torch.random.fork_rng with the global RNG seeded by it: the sample is a function of the
generator's state alone and the caller's global RNG is left as it was.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Gamma

from .config import AutoencoderConfig

POSITIVE_FLOOR = 1e-4  # smallest alpha and beta
NORM_EPS = 1e-6  # MONAI AutoencoderKL's default


def gamma_rsample(alpha: torch.Tensor, beta: torch.Tensor,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """A reparameterised Gamma(alpha, rate beta) sample; reproducible from ``generator``."""
    if generator is None:
        return Gamma(alpha, beta).rsample()
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=generator.device))
    device = alpha.device
    on_cpu = device.type == "cpu"  # the CPU generator is always forked
    with torch.random.fork_rng(devices=[] if on_cpu else [device],
                               device_type=None if on_cpu else device.type):
        torch.manual_seed(seed)
        return Gamma(alpha, beta).rsample()


class GammaVAE(nn.Module):
    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        # Imported here: importing MONAI costs every process about 3 CPU-seconds (it loads all
        # its submodules), and pixel-space training and sampling never build a Gamma-VAE.
        from monai.networks.nets.autoencoderkl import Decoder, Encoder

        self.config = config
        levels = len(config.channels)
        common = dict(spatial_dims=2, channels=config.channels,
                      num_res_blocks=(config.num_res_blocks,) * levels,
                      norm_num_groups=config.norm_groups, norm_eps=NORM_EPS,
                      attention_levels=(False,) * levels,
                      with_nonlocal_attn=config.nonlocal_attention)
        self.encoder = Encoder(in_channels=1, out_channels=2, **common)  # alpha and beta
        self.decoder = Decoder(in_channels=1, out_channels=1, **common)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha, beta), each (N, 1, h, w) float32, of the Gamma posterior of images x."""
        h = self.encoder(x).float()  # the distribution in float32, also under autocast
        return (F.softplus(h[:, :1]) + POSITIVE_FLOOR, F.softplus(h[:, 1:]) + POSITIVE_FLOOR)

    def latent_mean(self, x: torch.Tensor) -> torch.Tensor:
        """E[z] = alpha / beta: the latent of an image used by latent diffusion."""
        alpha, beta = self.posterior(x)
        return alpha / beta

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, 1, h, w) -> images (N, 1, H, W), about [0, 1] (not clamped)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        alpha, beta = self.posterior(x)
        z = gamma_rsample(alpha, beta, generator)
        return {"recon": self.decode(z), "alpha": alpha, "beta": beta, "z": z}
