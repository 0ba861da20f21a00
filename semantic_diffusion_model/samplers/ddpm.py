"""Ancestral DDPM sampling (Ho et al. 2020) with the learned interpolated variance of improved DDPM.

x_{k-1} = mu(x_k, x0) + exp(log_var / 2) z, z ~ N(0, I), no noise at the last step, where
x0 is predicted from the network's epsilon and clipped to [-1, 1], mu is the posterior mean
q(x_{k-1} | x_k, x0) and log_var = f log beta_k + (1 - f) log beta~_k from the network's output
fraction f. With all T steps this is the published sampler; with fewer steps it runs on the
respaced diffusion (``respacing``). One network evaluation per step.
"""
from __future__ import annotations

import torch

from ..diffusion.respacing import respaced_diffusion, reverse_steps, space_timesteps
from .noise import PerSampleNoise
from .process import Process

NAME = "ddpm"
SUMMARY = ("published ancestral DDPM with the learned variance, all T = 1000 steps by default "
           "(NFE 1000); --steps N < T samples the respaced diffusion (NFE N)")
DEFAULT_STEPS = 0  # all T steps: the published sampler


OPTIONS = ()  # steps only


def nfe(steps: int) -> int:
    return steps


def check_steps(process: Process, steps: int) -> None:
    """UserError unless 1 <= steps <= T (the respaced diffusion keeps that many timesteps)."""
    space_timesteps(len(process.betas), steps)


def sample(denoiser, process: Process, noise: PerSampleNoise, steps: int, options,
           progress: bool = False) -> torch.Tensor:
    diffusion, timestep_map = respaced_diffusion(process.betas, process.learn_sigma, steps)
    x = noise()
    for k, index, timestep in reverse_steps(timestep_map, x, NAME, progress):
        output = denoiser(x, timestep).float()
        out = diffusion.p_mean_variance(output, x, index, clip_denoised=options.clip_denoised)
        x = out["mean"]
        if k > 0:
            x = x + torch.exp(0.5 * out["log_variance"]) * noise()
    return x
