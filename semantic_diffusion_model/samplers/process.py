"""What a sampler needs to know about a checkpoint's diffusion, and the denoiser D(x; sigma) of it.

The ODE solvers (heun, euler, dpm-solver++ on the EDM family) work in EDM's coordinates: the
probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma with x = image + sigma n. Both kinds of
checkpoint give such a D:
- ddpm (discrete VP process): x = x_t / alpha_t and sigma = sigma_t / alpha_t; the network's
  epsilon at the (fractional) timestep of that noise level gives D = x - sigma eps (``vp_schedule``);
- edm / vp / ve: the network is already wrapped as D (diffusion.preconditioning).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..diffusion.ddpm import get_named_beta_schedule
from ..diffusion.preconditioning import Coefficients
from .vp_schedule import DiscreteVPSchedule


@dataclass
class Process:
    formulation: str  # ddpm, edm, vp or ve
    sigma_min: float  # the EDM noise levels the model was trained on
    sigma_max: float
    betas: np.ndarray | None = None  # ddpm: the T betas
    learn_sigma: bool = False  # ddpm: the network also predicts the variance

    @classmethod
    def discrete(cls, betas: np.ndarray, learn_sigma: bool) -> "Process":
        betas = np.asarray(betas, dtype=np.float64)
        schedule = DiscreteVPSchedule(np.cumprod(1.0 - betas))
        return cls("ddpm", schedule.edm_sigma_min, schedule.edm_sigma_max, betas, learn_sigma)

    @classmethod
    def of(cls, diffusion_config, learn_sigma: bool) -> "Process":
        """The process of a checkpoint's DiffusionConfig."""
        if diffusion_config.formulation == "ddpm":
            return cls.discrete(get_named_beta_schedule(diffusion_config.noise_schedule,
                                                        diffusion_config.diffusion_steps), learn_sigma)
        coefficients = Coefficients(diffusion_config)
        return cls(diffusion_config.formulation, coefficients.sigma_min, coefficients.sigma_max)

    @property
    def schedule(self) -> DiscreteVPSchedule:
        return DiscreteVPSchedule(np.cumprod(1.0 - self.betas))


def sigma_denoiser(process: Process, denoiser, channels: int, clip: bool):
    """D(x, sigma) -> the clean image (clipped to [-1, 1] with ``clip``), sigma a float, from
    ``denoiser(x, level)``: the network at timesteps (ddpm) or noise levels (EDM family)."""
    if process.formulation != "ddpm":
        def denoise(x: torch.Tensor, sigma: float) -> torch.Tensor:
            x0 = denoiser(x, torch.full((x.shape[0],), sigma, device=x.device))[:, :channels].float()
            return x0.clamp(-1.0, 1.0) if clip else x0
        return denoise
    schedule = process.schedule

    def denoise_discrete(x: torch.Tensor, sigma: float) -> torch.Tensor:
        t = schedule.t_from_edm_sigma(sigma)
        timestep = torch.full((x.shape[0],), float(schedule.model_timestep(t)), device=x.device)
        x_t = x / float(np.sqrt(1.0 + sigma**2))  # x_t = alpha_t x, alpha_t = 1 / sqrt(1 + sigma^2)
        eps = denoiser(x_t, timestep)[:, :channels].float()
        x0 = x - sigma * eps
        return x0.clamp(-1.0, 1.0) if clip else x0
    return denoise_discrete
