"""EDM-family preconditioning (Karras et al. 2022, Table 1): the network F wrapped into a denoiser

    D(x; sigma, y) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma), y)

that estimates the clean image from x = image + sigma n. The coefficients are those of a
formulation of the family (formulations.edm, vp, ve). Also the VP process's sigma(t), which the
vp formulation and the samplers' vp discretization share.
"""
from __future__ import annotations

import torch
from torch import nn


def vp_sigma(t, beta_d: float, beta_min: float):
    """sigma(t) of the VP process: sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    return torch.sqrt(torch.expm1(0.5 * beta_d * t ** 2 + beta_min * t))


def vp_sigma_inverse(sigma, beta_d: float, beta_min: float):
    """t(sigma), the inverse of ``vp_sigma``."""
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    return (torch.sqrt(beta_min ** 2 + 2 * beta_d * torch.log1p(sigma ** 2)) - beta_min) / beta_d


class PreconditionedDenoiser(nn.Module):
    """D(x; sigma, y) around the SPADE UNet ``net`` (whose output must have the image's channels),
    with the coefficients of ``formulation`` (formulations.preconditioned.Preconditioned).

    Called like the network, ``(x, sigma, y)`` with sigma of shape (N,), so the samplers' guidance
    wrapper and DistributedDataParallel treat it the same way. Computed in float32; the network
    itself may run under autocast.
    """

    def __init__(self, net: nn.Module, formulation):
        super().__init__()
        self.net = net
        self.coefficients = formulation.coefficients

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sigma = sigma.float().reshape(-1, 1, 1, 1)
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma)
        f = self.net(c_in * x, c_noise.flatten(), y).float()
        return c_skip * x.float() + c_out * f
