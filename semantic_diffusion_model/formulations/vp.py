"""vp: the variance-preserving SDE of Song et al. 2021 in EDM's frame (Karras et al. 2022, Table 1):

    sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1),  t ~ U(epsilon_t, 1),  lambda = 1 / sigma^2,
    c_skip = 1, c_out = -s, c_in = 1 / sqrt(s^2 + 1), c_noise = (M - 1) t(s)."""
from __future__ import annotations


import torch

from ..diffusion.preconditioning import vp_sigma, vp_sigma_inverse
from .parameters import parameter
from .preconditioned import Preconditioned


class VP(Preconditioned):
    name = "vp"
    summary = "the VP SDE's preconditioning and loss (Song et al. 2021, as in EDM Table 1)"

    class Parameters:
        vp_beta_d: float = parameter(19.9, "beta_d of sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1)", above=0)
        vp_beta_min: float = parameter(0.1, "beta_min of sigma(t)", at_least=0)
        vp_epsilon_t: float = parameter(1e-5, "smallest training time t (t ~ U(epsilon_t, 1))", above=0, below=1)
        vp_m: int = parameter(1000, "M of the network's noise input c_noise = (M - 1) t", at_least=1)

    def sigma(self, t):
        return vp_sigma(t, self.config.vp_beta_d, self.config.vp_beta_min)

    @property
    def sigma_min(self) -> float:
        return float(self.sigma(self.config.vp_epsilon_t))

    @property
    def sigma_max(self) -> float:
        return float(self.sigma(1.0))

    def coefficients(self, sigma):
        c = self.config
        t = vp_sigma_inverse(sigma, c.vp_beta_d, c.vp_beta_min).to(sigma.dtype)
        return torch.ones_like(sigma), -sigma, 1 / (sigma ** 2 + 1).sqrt(), (c.vp_m - 1) * t

    def sigma_of_quantile(self, u):
        return self.sigma(self.config.vp_epsilon_t + (1 - self.config.vp_epsilon_t) * u)
