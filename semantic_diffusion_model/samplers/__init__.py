"""Samplers of the semantic diffusion model, chosen by name (``registry``).

Each sampler turns per-sample noise into images in [-1, 1] with a ``denoiser(x, level)`` callable:
the network's raw output for a ddpm checkpoint (epsilon, plus the variance fraction when the model
learned its variance; level = float timesteps on the model's own 0..T-1 scale), the
preconditioned denoiser D(x; sigma) for an EDM-family checkpoint (level = sigma), or the velocity
for a rectified flow (level = t). Which samplers fit a checkpoint its ``Process`` says.
"""
from __future__ import annotations

import dataclasses

import torch

from echo_from_noise.errors import UserError

from .noise import PerSampleNoise, noise_seed
from .options import SamplerConfig
from .process import Process
from .registry import SAMPLER_NAMES, SAMPLERS
from .vp_schedule import DiscreteVPSchedule

__all__ = ["Sampler", "SamplerConfig", "SAMPLER_NAMES", "SAMPLERS", "PerSampleNoise", "Process",
           "noise_seed", "DiscreteVPSchedule"]


class Sampler:
    """One sampler with its steps and options for one checkpoint's ``process``."""

    def __init__(self, name: str, process: Process, steps: int = 0,
                 options: SamplerConfig | None = None, what: str = "the checkpoint", **overrides):
        """``options``: a SamplerConfig (or a program configuration derived from it); keyword
        ``overrides`` replace some of its fields (e.g. eta=1.0)."""
        if name not in SAMPLERS:
            raise UserError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLER_NAMES)}")
        self.name, self.module, self.process = name, SAMPLERS[name], process
        if name not in process.samplers:
            raise UserError(f"{what}: sampler {name} does not fit {process.formulation} "
                            f"checkpoints; samplers that do: {', '.join(process.samplers)}")
        self.options = dataclasses.replace(options or SamplerConfig(), **overrides)
        self.steps = steps or self.module.DEFAULT_STEPS or len(process.betas)
        if self.steps < 1:
            raise UserError(f"--steps must be positive, got {steps}")
        if hasattr(self.module, "check_steps"):  # a sampler with limits of its own
            self.module.check_steps(process, self.steps)
        if name == "ddim" and self.options.eta < 0:
            raise UserError(f"--eta must be >= 0, got {self.options.eta}")
        if name == "dpm-solver++" and not process.is_discrete and self.options.dpm_spacing != "logSNR":
            raise UserError(f"--dpm-spacing {self.options.dpm_spacing} needs a ddpm checkpoint "
                            f"({what} is {process.formulation}); use logSNR")
        if self.options.sigma_min < 0 or self.options.sigma_max < 0 or self.options.rho <= 0:
            raise UserError("--sigma-min and --sigma-max must be >= 0 and --rho > 0")
        if self.options.sigma_min and self.options.sigma_max and self.options.sigma_min >= self.options.sigma_max:
            raise UserError(f"--sigma-min {self.options.sigma_min} must be below --sigma-max "
                            f"{self.options.sigma_max}")
        if self.options.s_churn and not process.churn:
            raise UserError(f"--s-churn needs noise levels sigma ({what} is {process.formulation}); "
                            "leave it 0")
        if self.options.heun_euler_below < 0 or 0 < self.options.heun_max_ratio <= 1:
            raise UserError("--heun-euler-below must be >= 0 and --heun-max-ratio 0 or > 1, got "
                            f"{self.options.heun_euler_below} and {self.options.heun_max_ratio}")

    @property
    def nfe(self) -> int:
        """Network evaluations per image (a guided evaluation counts once, on a double batch)."""
        if hasattr(self.module, "count_nfe"):  # the count depends on the noise levels
            return self.module.count_nfe(self.process, self.steps, self.options)
        return self.module.nfe(self.steps)

    def __call__(self, denoiser, noise: PerSampleNoise, progress: bool = False) -> torch.Tensor:
        return self.module.sample(denoiser, self.process, noise, self.steps, self.options, progress)
