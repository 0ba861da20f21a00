"""Samplers of the semantic diffusion model, chosen by name.

Each sampler turns per-sample noise into images in [-1, 1] with a ``denoiser(x_t, timestep)``
callable that returns the network's raw output (epsilon, plus the variance fraction when the model
learned its variance) for float timesteps on the model's own 0..T-1 scale:

    ddpm          ancestral sampling with the learned variance; all T steps (the published sampler)
                  or respaced to fewer
    ddim          DDIM on the respaced diffusion, eta = 0 deterministic
    dpm-solver++  DPM-Solver++(2M), multistep 2nd order, data prediction
    heun          EDM's Heun solver of the probability-flow ODE (rho = 7), 2 * steps - 1 evaluations
"""
from __future__ import annotations

import numpy as np
import torch

from echo_from_noise.errors import UserError

from ..respacing import respaced_diffusion
from . import ddim, ddpm, dpm_solver, heun
from .noise import PerSampleNoise, noise_seed
from .vp_schedule import DiscreteVPSchedule

SAMPLER_NAMES = ("ddpm", "ddim", "dpm-solver++", "heun")
# steps when --steps is 0: the published 1000-step DDPM; few-step defaults of each solver's paper
DEFAULT_STEPS = {"ddpm": 0, "ddim": 50, "dpm-solver++": 20, "heun": 18}
_NFE = {"ddpm": ddpm.nfe, "ddim": ddim.nfe, "dpm-solver++": dpm_solver.nfe, "heun": heun.nfe}

__all__ = ["Sampler", "SAMPLER_NAMES", "DEFAULT_STEPS", "PerSampleNoise", "noise_seed",
           "DiscreteVPSchedule"]


class Sampler:
    """One sampler with its steps, prepared once for a model's beta schedule."""

    def __init__(self, name: str, betas: np.ndarray, learn_sigma: bool, steps: int = 0,
                 eta: float = 0.0, clip_denoised: bool = True, dpm_spacing: str = "logSNR"):
        if name not in SAMPLER_NAMES:
            raise UserError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLER_NAMES)}")
        betas = np.asarray(betas, dtype=np.float64)
        self.name = name
        self.num_timesteps = len(betas)
        self.steps = steps or DEFAULT_STEPS[name] or self.num_timesteps
        if self.steps < 1:
            raise UserError(f"--steps must be positive, got {steps}")
        if name == "ddim" and eta < 0:
            raise UserError(f"--eta must be >= 0, got {eta}")
        self.eta = eta
        self.dpm_spacing = dpm_spacing
        self.clip_denoised = clip_denoised
        if name in ("ddpm", "ddim"):
            self.diffusion, self.timestep_map = respaced_diffusion(betas, learn_sigma, self.steps)
        else:
            self.schedule = DiscreteVPSchedule(np.cumprod(1.0 - betas))

    @property
    def nfe(self) -> int:
        """Network evaluations per image (a guided evaluation counts once, on a double batch)."""
        return _NFE[self.name](self.steps)

    def __call__(self, denoiser, noise: PerSampleNoise, progress: bool = False) -> torch.Tensor:
        clip = self.clip_denoised
        if self.name == "ddpm":
            return ddpm.sample(denoiser, self.diffusion, self.timestep_map, noise, clip, progress)
        if self.name == "ddim":
            return ddim.sample(denoiser, self.diffusion, self.timestep_map, noise, self.eta, clip,
                               progress)
        if self.name == "dpm-solver++":
            return dpm_solver.sample(denoiser, self.schedule, noise, self.steps, clip,
                                     self.dpm_spacing, progress=progress)
        return heun.sample(denoiser, self.schedule, noise, self.steps, clip, progress=progress)
