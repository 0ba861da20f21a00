"""edm: EDM's own preconditioning and training distribution (Karras et al. 2022, Table 1):

    c_skip = sd^2 / (s^2 + sd^2), c_out = s sd / sqrt(s^2 + sd^2), c_in = 1 / sqrt(s^2 + sd^2),
    c_noise = ln(s) / 4;   ln sigma ~ N(P_mean, P_std^2);   lambda = (s^2 + sd^2) / (s sd)^2
(sd = sigma_data)."""
from __future__ import annotations

import math

import torch

from .parameters import parameter
from .preconditioned import Preconditioned


class EDM(Preconditioned):
    name = "edm"
    summary = "EDM's preconditioning and loss (Karras et al. 2022)"

    class Parameters:
        sigma_data: float = parameter(0.5, "standard deviation of the data in c_skip, c_out, c_in and the loss weight (latent models are standardised to it)", above=0)
        p_mean: float = parameter(-1.2, "mean of ln(sigma) of the training noise levels")
        p_std: float = parameter(1.2, "standard deviation of ln(sigma) of the training noise levels", above=0)

    def coefficients(self, sigma):
        sd = self.config.sigma_data
        return (sd ** 2 / (sigma ** 2 + sd ** 2), sigma * sd / (sigma ** 2 + sd ** 2).sqrt(),
                1 / (sd ** 2 + sigma ** 2).sqrt(), sigma.log() / 4)

    def sigma_of_quantile(self, u):
        normal = math.sqrt(2.0) * torch.erfinv(2 * u - 1)  # the P_mean/P_std normal from u
        return torch.exp(self.config.p_mean + self.config.p_std * normal)

    def weight(self, sigma):
        sd = self.config.sigma_data
        return (sigma ** 2 + sd ** 2) / (sigma * sd) ** 2
