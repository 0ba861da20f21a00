"""DDIM sampling (Song et al. 2021, eq. 12) on the respaced diffusion.

x_{k-1} = sqrt(abar_{k-1}) x0 + sqrt(1 - abar_{k-1} - s_k^2) eps + s_k z,
s_k = eta sqrt((1 - abar_{k-1}) / (1 - abar_k)) sqrt(1 - abar_k / abar_{k-1}),
with x0 predicted from the network's epsilon and clipped to [-1, 1], and eps recomputed from the
clipped x0 (as the improved-diffusion reference). eta = 0 is the deterministic sampler, eta = 1
matches DDPM's posterior variance. One network evaluation per step.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..respacing import reverse_steps
from .noise import PerSampleNoise


def nfe(steps: int) -> int:
    return steps


def sample(denoiser, diffusion, timestep_map: np.ndarray, noise: PerSampleNoise, eta: float = 0.0,
           clip_denoised: bool = True, progress: bool = False) -> torch.Tensor:
    x = noise()
    abar = np.asarray(diffusion.alphas_cumprod, dtype=np.float64)
    abar_prev = np.asarray(diffusion.alphas_cumprod_prev, dtype=np.float64)
    for k, index, timestep in reverse_steps(timestep_map, x, "ddim", progress):
        output = denoiser(x, timestep).float()
        x0 = diffusion.p_mean_variance(output, x, index, clip_denoised=clip_denoised)["pred_xstart"]
        eps = diffusion.predict_eps_from_xstart(x, index, x0)
        sigma = eta * math.sqrt((1 - abar_prev[k]) / (1 - abar[k]) * (1 - abar[k] / abar_prev[k]))
        x = math.sqrt(abar_prev[k]) * x0 + math.sqrt(max(1 - abar_prev[k] - sigma**2, 0.0)) * eps
        if k > 0 and eta > 0:
            x = x + sigma * noise()
    return x
