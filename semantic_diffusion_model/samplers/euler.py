"""Euler's 1st-order method on the probability-flow ODE: Heun's Algorithm 2 (``heun``) without the
correction, one network evaluation per step (NFE = N), the same noise levels and churn options."""
from __future__ import annotations

import torch

from . import heun
from .heun import ChurnOptions, check
from .noise import PerSampleNoise
from .process import Process
from .sigma_steps import NoiseLevelOptions

NAME = "euler"
SUMMARY = "Euler solver of the probability-flow ODE (Heun's steps without the correction)"
DEFAULT_STEPS = 35


OPTIONS = (NoiseLevelOptions, ChurnOptions)


def options_used(process: Process) -> tuple[str, ...]:
    return heun.options_used(process, own=())


def nfe(steps: int) -> int:
    return steps


def sample(denoiser, process: Process, noise: PerSampleNoise, steps: int, options,
           progress: bool = False) -> torch.Tensor:
    return heun.sample(denoiser, process, noise, steps, options, progress, second_order=False)
