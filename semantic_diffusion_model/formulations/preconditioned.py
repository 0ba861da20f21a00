"""The EDM family's frame (Karras et al. 2022): the network F wrapped into a denoiser

    D(x; sigma, y) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma), y)

of x = image + sigma n, trained with

    loss = lambda(sigma) || D(x0 + sigma n; sigma, y) - x0 ||^2,   n ~ N(0, I).

A member (edm, vp, ve) gives its coefficients, its training distribution of sigma (as a function
of a uniform quantile u, so that the log can report the loss per quarter of it), its weight lambda
and the noise range it was trained on (samplers clip their steps to it, as EDM's generate.py does).
"""
from __future__ import annotations

import math

import torch

from ..diffusion.likelihood import mean_flat
from ..diffusion.preconditioning import PreconditionedDenoiser
from ..samplers.process import Process
from .base import Formulation


class Preconditioned(Formulation):
    samplers = ("dpm-solver++", "heun", "euler")  # (in the registry's order)
    sigma_min: float = 0.0  # the noise levels trained on
    sigma_max: float = math.inf

    def coefficients(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """c_skip, c_out, c_in, c_noise at ``sigma``."""
        raise NotImplementedError

    def sigma_of_quantile(self, u: torch.Tensor) -> torch.Tensor:
        """The training noise level whose quantile is u (float64)."""
        raise NotImplementedError

    def weight(self, sigma: torch.Tensor) -> torch.Tensor:
        return 1 / sigma ** 2

    def network(self, net):
        return PreconditionedDenoiser(net, self)

    def draw(self, batch, generator, device):
        u = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
        return self.sigma_of_quantile(u).float(), u.float()

    def losses(self, network, x0, level, y, noise):
        denoised = network(x0 + level.reshape(-1, 1, 1, 1) * noise, level, y).float()
        mse = mean_flat((denoised - x0) ** 2)
        return {"loss": self.weight(level) * mse, "mse": mse, "vb": torch.zeros_like(mse)}

    def process(self):
        return Process(self.name, self.sigma_min, self.sigma_max, samplers=self.samplers)
