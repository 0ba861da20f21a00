"""EDM-family preconditioning (Karras et al. 2022, Table 1): the network F wrapped into a denoiser

    D(x; sigma, y) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma), y)

that estimates the clean image from x = image + sigma n. Three formulations share the network and
differ only in these coefficients (and in how training draws sigma, ``edm_loss``):

    edm  c_skip = sd^2 / (s^2 + sd^2), c_out = s sd / sqrt(s^2 + sd^2), c_in = 1 / sqrt(s^2 + sd^2),
         c_noise = ln(s) / 4                                         (sd = sigma_data)
    vp   c_skip = 1, c_out = -s, c_in = 1 / sqrt(s^2 + 1), c_noise = (M - 1) t(s), where
         s(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1) and t(s) its inverse (Song et al. 2021)
    ve   c_skip = 1, c_out = s, c_in = 1, c_noise = ln(s / 2)

sigma_min and sigma_max are the noise levels the formulation was trained on (samplers clip their
steps to them, as EDM's generate.py does).
"""
from __future__ import annotations

import math

import torch
from torch import nn

FORMULATIONS = ("ddpm", "edm", "vp", "ve")  # ddpm: the discrete process of diffusion.ddpm
CONTINUOUS = FORMULATIONS[1:]


def vp_sigma(t, beta_d: float, beta_min: float):
    """sigma(t) of the VP process: sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    return torch.sqrt(torch.expm1(0.5 * beta_d * t ** 2 + beta_min * t))


def vp_sigma_inverse(sigma, beta_d: float, beta_min: float):
    """t(sigma), the inverse of ``vp_sigma``."""
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    return (torch.sqrt(beta_min ** 2 + 2 * beta_d * torch.log1p(sigma ** 2)) - beta_min) / beta_d


class Coefficients:
    """c_skip, c_out, c_in, c_noise of one formulation as functions of sigma (tensors)."""

    def __init__(self, config):
        if config.formulation not in CONTINUOUS:
            raise ValueError(f"no preconditioning for formulation {config.formulation!r}")
        self.config = config
        self.formulation = config.formulation

    @property
    def sigma_min(self) -> float:
        c = self.config
        if self.formulation == "vp":
            return float(vp_sigma(c.vp_epsilon_t, c.vp_beta_d, c.vp_beta_min))
        if self.formulation == "ve":
            return c.ve_sigma_min
        return 0.0

    @property
    def sigma_max(self) -> float:
        c = self.config
        if self.formulation == "vp":
            return float(vp_sigma(1.0, c.vp_beta_d, c.vp_beta_min))
        if self.formulation == "ve":
            return c.ve_sigma_max
        return math.inf

    def __call__(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c = self.config
        if self.formulation == "edm":
            sd = c.sigma_data
            c_skip = sd ** 2 / (sigma ** 2 + sd ** 2)
            c_out = sigma * sd / (sigma ** 2 + sd ** 2).sqrt()
            c_in = 1 / (sd ** 2 + sigma ** 2).sqrt()
            c_noise = sigma.log() / 4
        elif self.formulation == "vp":
            c_skip = torch.ones_like(sigma)
            c_out = -sigma
            c_in = 1 / (sigma ** 2 + 1).sqrt()
            c_noise = (c.vp_m - 1) * vp_sigma_inverse(sigma, c.vp_beta_d, c.vp_beta_min).to(sigma.dtype)
        else:  # ve
            c_skip = torch.ones_like(sigma)
            c_out = sigma
            c_in = torch.ones_like(sigma)
            c_noise = (0.5 * sigma).log()
        return c_skip, c_out, c_in, c_noise


class PreconditionedDenoiser(nn.Module):
    """D(x; sigma, y) around the SPADE UNet ``net`` (whose output must have the image's channels).

    Called like the network, ``(x, sigma, y)`` with sigma of shape (N,), so the samplers' guidance
    wrapper and DistributedDataParallel treat it the same way. Computed in float32; the network
    itself may run under autocast.
    """

    def __init__(self, net: nn.Module, config):
        super().__init__()
        self.net = net
        self.coefficients = Coefficients(config)

    @property
    def sigma_min(self) -> float:
        return self.coefficients.sigma_min

    @property
    def sigma_max(self) -> float:
        return self.coefficients.sigma_max

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sigma = sigma.float().reshape(-1, 1, 1, 1)
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma)
        f = self.net(c_in * x, c_noise.flatten(), y).float()
        return c_skip * x.float() + c_out * f
