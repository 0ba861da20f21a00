"""What a sampler needs to know about a checkpoint's diffusion (a formulation's ``process()``).

The ODE solvers (heun, euler) integrate dx/dlevel = (x - D(x; level)) / level from noise at the
first level to 0, where D is the clean-image estimate:
- ``Process``: EDM's coordinates, x = image + sigma n and level = sigma. Both kinds of checkpoint
  give such a D: ddpm (discrete VP process: x = x_t / alpha_t, sigma = sigma_t / alpha_t, and the
  network's epsilon at the (fractional) timestep of that noise level gives D = x - sigma eps,
  ``vp_schedule``), and the EDM family (the network is already wrapped as D).
- ``FlowProcess``: rectified flow's coordinates, x = (1 - t) image + t n and level = t; with
  D = x - t v the same formula is dx/dt = v, the velocity the network predicts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .sigma_steps import sigma_range, sigma_steps
from .vp_schedule import DiscreteVPSchedule

DISCRETE_SAMPLERS = ("ddpm", "ddim", "dpm-solver++", "heun", "euler")
SIGMA_SAMPLERS = ("dpm-solver++", "heun", "euler")


@dataclass
class Process:
    formulation: str  # the formulation's name (records and messages)
    sigma_min: float  # the EDM noise levels the model was trained on
    sigma_max: float
    betas: np.ndarray | None = None  # a discrete (ddpm) process: the T betas
    learn_sigma: bool = False  # ddpm: the network also predicts the variance
    samplers: tuple[str, ...] = ()  # those that fit (default: by the kind of process)
    churn: bool = True  # the ODE solvers may add churn noise (EDM Algorithm 2)

    def __post_init__(self) -> None:
        self.samplers = tuple(self.samplers) or (DISCRETE_SAMPLERS if self.is_discrete else SIGMA_SAMPLERS)

    @classmethod
    def discrete(cls, betas: np.ndarray, learn_sigma: bool, name: str = "ddpm",
                 samplers: tuple[str, ...] = DISCRETE_SAMPLERS) -> "Process":
        betas = np.asarray(betas, dtype=np.float64)
        schedule = DiscreteVPSchedule(np.cumprod(1.0 - betas))
        return cls(name, schedule.edm_sigma_min, schedule.edm_sigma_max, betas, learn_sigma, samplers)

    @property
    def is_discrete(self) -> bool:
        """Whether the model is a discrete VP process (``schedule``)."""
        return self.betas is not None

    @property
    def schedule(self) -> DiscreteVPSchedule:
        return DiscreteVPSchedule(np.cumprod(1.0 - self.betas))

    @property
    def middle_level(self) -> float:
        """A level half-way through the noise, as the network takes it (for timing it)."""
        return len(self.betas) / 2 if self.is_discrete else 1.0

    def levels(self, steps: int, options) -> list[float]:
        """The ODE solvers' steps + 1 levels (the discretization's noise levels, then 0)."""
        low, high = sigma_range(options.discretization, options.sigma_min, options.sigma_max,
                                self.sigma_min, self.sigma_max)
        return [float(s) for s in sigma_steps(options.discretization, steps, low, high, options.rho)]

    def sigma_of(self, level: float) -> float:
        """The EDM noise level of a level (sigma itself here)."""
        return level

    def clean_estimate(self, denoiser, channels: int, clip: bool):
        """D(x, level) -> the clean image (clipped to [-1, 1] with ``clip``), level a float, from
        ``denoiser(x, level)``: the network at timesteps (ddpm) or noise levels (EDM family)."""
        if not self.is_discrete:
            def denoise(x: torch.Tensor, sigma: float) -> torch.Tensor:
                x0 = denoiser(x, torch.full((x.shape[0],), sigma, device=x.device))[:, :channels].float()
                return x0.clamp(-1.0, 1.0) if clip else x0
            return denoise
        schedule = self.schedule

        def denoise_discrete(x: torch.Tensor, sigma: float) -> torch.Tensor:
            t = schedule.t_from_edm_sigma(sigma)
            timestep = torch.full((x.shape[0],), float(schedule.model_timestep(t)), device=x.device)
            x_t = x / float(np.sqrt(1.0 + sigma**2))  # x_t = alpha_t x, alpha_t = 1 / sqrt(1 + sigma^2)
            eps = denoiser(x_t, timestep)[:, :channels].float()
            x0 = x - sigma * eps
            return x0.clamp(-1.0, 1.0) if clip else x0
        return denoise_discrete


def shift_time(t, shift: float):
    """t' = k t / (1 + (k - 1) t): more of the times near t = 1 for k > 1 (k = 1: t itself)."""
    return t if shift == 1 else shift * t / (1 + (shift - 1) * t)


class FlowProcess(Process):
    """Rectified flow: level = t from 1 (pure noise) to 0, uniform then shifted. No churn:
    Algorithm 2's churn is defined on sigma, not on the straight path."""

    def __init__(self, formulation: str, shift: float = 1.0, samplers: tuple[str, ...] = ("heun", "euler")):
        super().__init__(formulation, 0.0, float("inf"), samplers=samplers, churn=False)
        self.shift = shift

    middle_level = 0.5

    def levels(self, steps: int, options) -> list[float]:
        t = np.linspace(1.0, 0.0, steps + 1)
        return [float(v) for v in shift_time(t, self.shift)]

    def sigma_of(self, level: float) -> float:
        """sigma = t / (1 - t): x / (1 - t) = image + sigma n."""
        return level / (1.0 - level) if level < 1 else float("inf")

    def clean_estimate(self, denoiser, channels: int, clip: bool):
        def denoise(x: torch.Tensor, t: float) -> torch.Tensor:
            velocity = denoiser(x, torch.full((x.shape[0],), t, device=x.device))[:, :channels].float()
            x0 = x - t * velocity
            return x0.clamp(-1.0, 1.0) if clip else x0
        return denoise
