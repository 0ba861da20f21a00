"""Heun's 2nd-order method on the probability-flow ODE, in the EDM parameterisation (Karras et al.
2022, Algorithm 1, deterministic).

With sigma = sigma_t / alpha_t and x = x_t / alpha_t the ODE of the model's VP process becomes
dx/dsigma = (x - D(x; sigma)) / sigma, where the denoiser D(x; sigma) = x - sigma * eps(x_t, t) comes
from the epsilon-predicting network at the (fractional) timestep with that noise level. The noise
levels follow the rho = 7 schedule from sigma_max to sigma_min, then a last Euler step to sigma = 0.

The correction uses the slope re-evaluated at the end point (x_next, sigma_next) of the Euler
predictor. (The follow-up paper's released code evaluated it at the start point again, which made
the method Euler at twice the cost.) NFE = 2 * steps - 1.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from .noise import PerSampleNoise
from .vp_schedule import DiscreteVPSchedule

EDM_SIGMA_MIN, EDM_SIGMA_MAX, EDM_RHO = 0.002, 80.0, 7.0


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = EDM_RHO) -> np.ndarray:
    """steps noise levels from sigma_max down to sigma_min, spaced uniformly in sigma^(1/rho), then 0."""
    if steps == 1:
        sigmas = np.array([sigma_max])
    else:
        ramp = np.linspace(0.0, 1.0, steps)
        inv_max, inv_min = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
        sigmas = (inv_max + ramp * (inv_min - inv_max)) ** rho
    return np.append(sigmas, 0.0)


def nfe(steps: int) -> int:
    return 2 * steps - 1


def sample(denoiser, schedule: DiscreteVPSchedule, noise: PerSampleNoise, steps: int,
           clip_denoised: bool = True, rho: float = EDM_RHO, progress: bool = False) -> torch.Tensor:
    """Solve the PF-ODE from pure noise; the model's own sigma range clipped to EDM's [0.002, 80]."""
    sigma_min = max(schedule.edm_sigma_min, EDM_SIGMA_MIN)
    sigma_max = min(schedule.edm_sigma_max, EDM_SIGMA_MAX)
    sigmas = karras_sigmas(steps, sigma_min, sigma_max, rho)
    channels = noise.sample_shape[0]

    def denoise(x: torch.Tensor, sigma: float) -> torch.Tensor:
        t = schedule.t_from_edm_sigma(sigma)
        timestep = torch.full((x.shape[0],), float(schedule.model_timestep(t)), device=x.device)
        x_t = x / float(np.sqrt(1.0 + sigma**2))  # x_t = alpha_t x, alpha_t = 1 / sqrt(1 + sigma^2)
        eps = denoiser(x_t, timestep)[:, :channels].float()
        x0 = x - sigma * eps
        return x0.clamp(-1.0, 1.0) if clip_denoised else x0

    x = noise() * sigmas[0]
    for i in tqdm(range(steps), desc="heun", leave=False, disable=not progress):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        slope = (x - denoise(x, sigma)) / sigma
        x_next = x + (sigma_next - sigma) * slope
        if sigma_next > 0:  # 2nd-order correction with the slope at the predicted end point
            slope_next = (x_next - denoise(x_next, sigma_next)) / sigma_next
            x_next = x + (sigma_next - sigma) * 0.5 * (slope + slope_next)
        x = x_next
    return x  # = D(x; sigma_min): the last step is Euler to sigma = 0
