"""ve: the variance-exploding SDE of Song et al. 2021 in EDM's frame (Karras et al. 2022, Table 1):

    ln sigma ~ U(ln sigma_min, ln sigma_max),  lambda = 1 / sigma^2,
    c_skip = 1, c_out = s, c_in = 1, c_noise = ln(s / 2)."""
from __future__ import annotations


import torch

from .parameters import parameter
from .preconditioned import Preconditioned


class VE(Preconditioned):
    name = "ve"
    summary = "the VE SDE's preconditioning and loss (Song et al. 2021, as in EDM Table 1)"

    class Parameters:
        ve_sigma_min: float = parameter(0.02, "smallest training noise level")
        ve_sigma_max: float = parameter(100.0, "largest training noise level")

    @staticmethod
    def relations(c):  # the range of each is set by the other
        return [(0 < c.ve_sigma_min < c.ve_sigma_max,
                 f"--ve-sigma-min must be > 0 and below --ve-sigma-max, got {c.ve_sigma_min} and {c.ve_sigma_max}")]

    @property
    def sigma_min(self) -> float:
        return self.config.ve_sigma_min

    @property
    def sigma_max(self) -> float:
        return self.config.ve_sigma_max

    def coefficients(self, sigma):
        return torch.ones_like(sigma), sigma, torch.ones_like(sigma), (0.5 * sigma).log()

    def sigma_of_quantile(self, u):
        c = self.config
        return c.ve_sigma_min * (c.ve_sigma_max / c.ve_sigma_min) ** u
