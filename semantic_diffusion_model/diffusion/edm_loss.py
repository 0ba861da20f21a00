"""Training loss of the EDM family (Karras et al. 2022, section 5 and Table 1):

    loss = lambda(sigma) || D(x0 + sigma n; sigma, y) - x0 ||^2,   n ~ N(0, I)

with the noise level and weight of each formulation:

    edm  ln sigma ~ N(P_mean, P_std^2),               lambda = (sigma^2 + sd^2) / (sigma sd)^2
    vp   t ~ U(epsilon_t, 1), sigma = vp_sigma(t),     lambda = 1 / sigma^2
    ve   ln sigma ~ U(ln sigma_min, ln sigma_max),     lambda = 1 / sigma^2

Each draw is also given as a quantile u in [0, 1) of its distribution, so the training log can
report the loss per quarter of the noise levels as it does for the timesteps of ddpm.
"""
from __future__ import annotations

import math

import torch

from .likelihood import mean_flat
from .preconditioning import vp_sigma


class EDMLoss:
    def __init__(self, config):
        self.config = config
        self.formulation = config.formulation

    def draw_sigma(self, batch: int, generator: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(sigma, its quantile u) for ``batch`` samples."""
        c = self.config
        u = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
        if self.formulation == "edm":
            normal = math.sqrt(2.0) * torch.erfinv(2 * u - 1)  # the P_mean/P_std normal from u
            sigma = torch.exp(c.p_mean + c.p_std * normal)
        elif self.formulation == "vp":
            t = c.vp_epsilon_t + (1 - c.vp_epsilon_t) * u
            sigma = vp_sigma(t, c.vp_beta_d, c.vp_beta_min)
        else:
            sigma = c.ve_sigma_min * (c.ve_sigma_max / c.ve_sigma_min) ** u
        return sigma.float(), u.float()

    def weight(self, sigma: torch.Tensor) -> torch.Tensor:
        if self.formulation == "edm":
            sd = self.config.sigma_data
            return (sigma ** 2 + sd ** 2) / (sigma * sd) ** 2
        return 1 / sigma ** 2

    def training_losses(self, denoiser, x0: torch.Tensor, sigma: torch.Tensor, y: torch.Tensor,
                        noise: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample 'loss' (weighted), 'mse' (unweighted ||D - x0||^2 per pixel) and 'vb' (0)."""
        denoised = denoiser(x0 + sigma.reshape(-1, 1, 1, 1) * noise, sigma, y).float()
        mse = mean_flat((denoised - x0) ** 2)
        return {"loss": self.weight(sigma) * mse, "mse": mse, "vb": torch.zeros_like(mse)}
