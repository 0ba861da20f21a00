"""DPM-Solver++(2M): the multistep 2nd-order solver of the probability-flow ODE in data prediction
(Lu et al. 2022, "DPM-Solver++", Algorithm 2).

With lambda = log(alpha/sigma), h_i = lambda_{i+1} - lambda_i and D_i built from the (clipped)
data predictions x0_i:
    x_{i+1} = sigma_{i+1}/sigma_i x_i - alpha_{i+1} (exp(-h_i) - 1) D_i
where D_i = x0_i for the first step (and for the last one when steps < 10, as in the reference code),
else D_i = x0_i + (x0_i - x0_{i-1}) / (2 r_i), r_i = h_{i-1} / h_i. One network evaluation per step.

ddpm checkpoints: the model's discrete VP schedule in continuous time (``vp_schedule``), from t_max
down to t = 1/T, steps uniform in log-SNR by default (constant h), or uniform in t or sqrt(t)
(DPM-Solver's other skip types). t_max is where lambda = -5.1, as the reference solver clips the
cosine schedule: beyond it alpha < 0.006 and steps there are wasted (without the clip a third of
the steps went there, and 5- and 8-step results on Gaussian data were 3 to 20 times less accurate).
EDM-family checkpoints: the same update in EDM's coordinates (alpha = 1, sigma = the noise level,
lambda = -log sigma), steps uniform in log sigma between the --sigma-max and --sigma-min of the
discretization (clipped to the model's range).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from echo_from_noise.errors import UserError

from .noise import PerSampleNoise
from .process import Process
from .sigma_steps import NoiseLevelOptions, check_noise_levels, sigma_range
from .vp_schedule import DiscreteVPSchedule

NAME = "dpm-solver++"
SUMMARY = "DPM-Solver++(2M), multistep 2nd order, data prediction"
DEFAULT_STEPS = 20
SPACINGS = ("logSNR", "time_uniform", "time_quadratic")
LAMBDA_MIN = -5.1  # the reference solver's clip of the cosine schedule's log-SNR at t_max


@dataclass
class Options:
    dpm_spacing: str = field(default="logSNR", metadata={"help": "time steps uniform in log-SNR, in t or in sqrt(t) (the last two for ddpm checkpoints only)", "choices": SPACINGS})


OPTIONS = (Options, NoiseLevelOptions)


def options_used(process: Process) -> tuple[str, ...]:
    """ddpm checkpoints: the spacing; the EDM family: the range of sigma too (steps uniform in
    log sigma: no rho)."""
    return ("dpm_spacing",) if process.is_discrete else ("dpm_spacing", "discretization", "sigma_min", "sigma_max")


def check(options, process: Process, what: str) -> None:
    if not process.is_discrete:
        check_noise_levels(options)
        if options.dpm_spacing != "logSNR":
            raise UserError(f"--dpm-spacing {options.dpm_spacing} needs a ddpm checkpoint "
                            f"({what} is {process.formulation}); use logSNR")


def nfe(steps: int) -> int:
    return steps


def clipped_t_max(schedule: DiscreteVPSchedule) -> float:
    """The latest time whose log-SNR is at least LAMBDA_MIN (t = 1 when all of them are)."""
    if schedule.log_snr(schedule.t_max) >= LAMBDA_MIN:
        return schedule.t_max
    return float(schedule.t_from_log_alpha(-0.5 * np.logaddexp(0.0, -2.0 * LAMBDA_MIN)))


def time_steps(schedule: DiscreteVPSchedule, steps: int, spacing: str = "logSNR") -> np.ndarray:
    """steps + 1 continuous times from the clipped t_max down to t = 1/T."""
    t_max, t_min = clipped_t_max(schedule), schedule.t_min
    if spacing == "time_uniform":
        return np.linspace(t_max, t_min, steps + 1)
    if spacing == "time_quadratic":
        return np.linspace(np.sqrt(t_max), np.sqrt(t_min), steps + 1) ** 2
    if spacing == "logSNR":
        lambdas = np.linspace(schedule.log_snr(t_max), schedule.log_snr(t_min), steps + 1)
        ts = schedule.t_from_log_alpha(-0.5 * np.logaddexp(0.0, -2.0 * lambdas))
        ts[0], ts[-1] = t_max, t_min
        return ts
    raise ValueError(f"unknown time spacing {spacing!r} (known: {', '.join(SPACINGS)})")


def solve(data_prediction, x: torch.Tensor, lambdas: np.ndarray, alphas: np.ndarray,
          sigmas: np.ndarray, lower_order_final: bool = True, progress: bool = False) -> torch.Tensor:
    """The 2M update from x at step 0 through len(lambdas) - 1 steps; data_prediction(x, i)."""
    steps = len(lambdas) - 1
    x0_prev = None
    for i in tqdm(range(steps), desc=NAME, leave=False, disable=not progress):
        x0 = data_prediction(x, i)
        h = float(lambdas[i + 1] - lambdas[i])
        first_order = x0_prev is None or (lower_order_final and steps < 10 and i == steps - 1)
        if first_order:
            d = x0
        else:
            r = float(lambdas[i] - lambdas[i - 1]) / h
            d = x0 + (x0 - x0_prev) / (2.0 * r)
        x = float(sigmas[i + 1] / sigmas[i]) * x - float(alphas[i + 1] * np.expm1(-h)) * d
        x0_prev = x0
    return x


def sample(denoiser, process: Process, noise: PerSampleNoise, steps: int, options,
           progress: bool = False) -> torch.Tensor:
    clip, channels = options.clip_denoised, noise.sample_shape[0]
    if not process.is_discrete:
        return sample_sigma(denoiser, process, noise, steps, options, progress)
    schedule = process.schedule
    ts = time_steps(schedule, steps, options.dpm_spacing)
    lambdas, alphas, sigmas = schedule.log_snr(ts), schedule.alpha(ts), schedule.sigma(ts)

    def data_prediction(x: torch.Tensor, i: int) -> torch.Tensor:
        timestep = torch.full((x.shape[0],), float(schedule.model_timestep(ts[i])), device=x.device)
        eps = denoiser(x, timestep)[:, :channels].float()
        x0 = (x - float(sigmas[i]) * eps) / float(alphas[i])
        return x0.clamp(-1.0, 1.0) if clip else x0

    # x_T ~ N(0, I): sigma_t is 1 to within 2e-5 at the clipped t_max
    x = solve(data_prediction, noise(), lambdas, alphas, sigmas, progress=progress)
    return x.clamp(-1.0, 1.0) if clip else x


def sample_sigma(denoiser, process: Process, noise: PerSampleNoise, steps: int, options,
                 progress: bool = False) -> torch.Tensor:
    """EDM-family checkpoints: alpha = 1, lambda = -log sigma, uniform in log sigma."""
    if options.dpm_spacing != "logSNR":
        raise ValueError("--dpm-spacing other than logSNR needs a ddpm checkpoint")
    low, high = sigma_range(options.discretization, options.sigma_min, options.sigma_max,
                            process.sigma_min, process.sigma_max)
    sigmas = np.geomspace(high, low, steps + 1)
    clip, channels = options.clip_denoised, noise.sample_shape[0]

    def data_prediction(x: torch.Tensor, i: int) -> torch.Tensor:
        x0 = denoiser(x, torch.full((x.shape[0],), float(sigmas[i]), device=x.device))[:, :channels].float()
        return x0.clamp(-1.0, 1.0) if clip else x0

    x = solve(data_prediction, noise() * float(sigmas[0]), -np.log(sigmas), np.ones_like(sigmas),
              sigmas, progress=progress)
    return x.clamp(-1.0, 1.0) if clip else x
