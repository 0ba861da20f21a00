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
from .declared import options_used
from .options import SAMPLER_OPTIONS, SamplerConfig, unused_options
from .process import Process
from .registry import SAMPLER_NAMES, SAMPLERS
from .vp_schedule import DiscreteVPSchedule

__all__ = ["Sampler", "SamplerConfig", "SAMPLER_OPTIONS", "SAMPLER_NAMES", "SAMPLERS", "PerSampleNoise", "Process",
           "noise_seed", "DiscreteVPSchedule"]


class Sampler:
    """One sampler with its steps and options for one checkpoint's ``process``."""

    def __init__(self, name: str, process: Process, steps: int = 0,
                 options: SamplerConfig | None = None, what: str = "the checkpoint", **overrides):
        """``options``: a SamplerConfig (or a program configuration derived from it); keyword
        ``overrides`` replace some of its fields (e.g. eta=1.0)."""
        if name not in SAMPLERS:
            raise UserError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
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
        unused = unused_options(name, process, self.options.explicit)
        if unused:
            flags = " ".join("--" + option.replace("_", "-") for option in unused)
            reads = " ".join("--" + o.replace("_", "-") for o in self.option_names) or "none but --steps"
            raise UserError(f"{flags}: not read by sampler {name} on {process.formulation} "
                            f"checkpoints (its options: {reads})")
        if hasattr(self.module, "check"):
            self.module.check(self.options, process, what)

    @property
    def option_names(self) -> tuple[str, ...]:
        """The options that shape this sampler's images on this checkpoint."""
        return options_used(self.module, self.process)

    @property
    def recorded_options(self) -> dict:
        """Those options with their values (what sample_config.json records)."""
        return {name: getattr(self.options, name) for name in self.option_names}

    @property
    def nfe(self) -> int:
        """Network evaluations per image (a guided evaluation counts once, on a double batch)."""
        if hasattr(self.module, "count_nfe"):  # the count depends on the noise levels
            return self.module.count_nfe(self.process, self.steps, self.options)
        return self.module.nfe(self.steps)

    def __call__(self, denoiser, noise: PerSampleNoise, progress: bool = False) -> torch.Tensor:
        return self.module.sample(denoiser, self.process, noise, self.steps, self.options, progress)
