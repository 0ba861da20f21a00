"""Ancestral DDPM sampling (Ho et al. 2020) with the learned interpolated variance of improved DDPM.

x_{k-1} = mu(x_k, x0) + exp(log_var / 2) z, z ~ N(0, I), no noise at the last step, where
x0 is predicted from the network's epsilon and clipped to [-1, 1], mu is the posterior mean
q(x_{k-1} | x_k, x0) and log_var = f log beta_k + (1 - f) log beta~_k from the network's output
fraction f. With all T steps this is the published sampler; with fewer steps it runs on the
respaced diffusion (``respacing``). One network evaluation per step.
"""
from __future__ import annotations

import numpy as np
import torch

from ..respacing import reverse_steps
from .noise import PerSampleNoise


def nfe(steps: int) -> int:
    return steps


def sample(denoiser, diffusion, timestep_map: np.ndarray, noise: PerSampleNoise,
           clip_denoised: bool = True, progress: bool = False) -> torch.Tensor:
    x = noise()
    for k, index, timestep in reverse_steps(timestep_map, x, "ddpm", progress):
        output = denoiser(x, timestep).float()
        out = diffusion.p_mean_variance(output, x, index, clip_denoised=clip_denoised)
        x = out["mean"]
        if k > 0:
            x = x + torch.exp(0.5 * out["log_variance"]) * noise()
    return x
