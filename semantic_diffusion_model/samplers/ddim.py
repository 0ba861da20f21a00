"""DDIM sampling (Song et al. 2021, eq. 12) on the respaced diffusion.

x_{k-1} = sqrt(abar_{k-1}) x0 + sqrt(1 - abar_{k-1} - s_k^2) eps + s_k z,
s_k = eta sqrt((1 - abar_{k-1}) / (1 - abar_k)) sqrt(1 - abar_k / abar_{k-1}),
with x0 predicted from the network's epsilon and clipped to [-1, 1], and eps recomputed from the
clipped x0 (as the improved-diffusion reference). eta = 0 is the deterministic sampler, eta = 1
matches DDPM's posterior variance. One network evaluation per step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from echo_from_noise.errors import UserError

from ..diffusion.respacing import respaced_diffusion, reverse_steps
from .ddpm import check_steps, nfe  # noqa: F401 (the same respaced steps: part of this sampler)
from .noise import PerSampleNoise
from .process import Process

NAME = "ddim"
SUMMARY = "DDIM, --eta 0 deterministic"
DEFAULT_STEPS = 50


@dataclass
class Options:
    eta: float = field(default=0.0, metadata={"help": "noise scale (0 = deterministic DDIM, 1 = DDPM-like)"})


OPTIONS = (Options,)


def check(options, process: Process, what: str) -> None:
    if options.eta < 0:
        raise UserError(f"--eta must be >= 0, got {options.eta}")


def sample(denoiser, process: Process, noise: PerSampleNoise, steps: int, options,
           progress: bool = False) -> torch.Tensor:
    diffusion, timestep_map = respaced_diffusion(process.betas, process.learn_sigma, steps)
    eta, clip_denoised = options.eta, options.clip_denoised
    x = noise()
    abar = np.asarray(diffusion.alphas_cumprod, dtype=np.float64)
    abar_prev = np.asarray(diffusion.alphas_cumprod_prev, dtype=np.float64)
    for k, index, timestep in reverse_steps(timestep_map, x, NAME, progress):
        output = denoiser(x, timestep).float()
        x0 = diffusion.p_mean_variance(output, x, index, clip_denoised=clip_denoised)["pred_xstart"]
        eps = diffusion.predict_eps_from_xstart(x, index, x0)
        sigma = eta * math.sqrt((1 - abar_prev[k]) / (1 - abar[k]) * (1 - abar[k] / abar_prev[k]))
        x = math.sqrt(abar_prev[k]) * x0 + math.sqrt(max(1 - abar_prev[k] - sigma**2, 0.0)) * eps
        if k > 0 and eta > 0:
            x = x + sigma * noise()
    return x
