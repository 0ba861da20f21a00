"""Heun's 2nd-order method on the probability-flow ODE (Karras et al. 2022, Algorithm 2).

In EDM's coordinates (``process``) the ODE is dx/dsigma = (x - D(x; sigma)) / sigma (for rectified
flow the same formula in t, ``process.FlowProcess``, whose thresholds below apply to the sigma
t / (1 - t) of each time). From x ~ N(0, sigma_0^2 I), step i:
    optional churn: gamma = min(S_churn / N, sqrt(2) - 1) for S_min <= sigma_i <= S_max (else 0),
        sigma_hat = (1 + gamma) sigma_i, x_hat = x_i + sqrt(sigma_hat^2 - sigma_i^2) S_noise z
    Euler predictor: d = (x_hat - D(x_hat; sigma_hat)) / sigma_hat,
        x_{i+1} = x_hat + (sigma_{i+1} - sigma_hat) d
    correction with the slope re-evaluated at the predicted end point (x_{i+1}, sigma_{i+1}):
        x_{i+1} = x_hat + (sigma_{i+1} - sigma_hat) (d + d') / 2, skipped at the last step to
        sigma = 0 (which is therefore Euler), and at every step that ends below --heun-euler-below
        (default 0.05) or divides sigma by more than --heun-max-ratio (default 4).
S_churn = 0 is the deterministic Algorithm 1. NFE = 2 N - 1 - (the steps made Euler steps); both
options 0 give NVlabs' algorithm exactly. (The follow-up paper's released code evaluated d' at the
start point again, which made its "Heun" Euler at twice the cost.)

Why: the correction divides by sigma_{i+1}, so an error e of the network's raw output at the end
point enters x as about e (sigma_hat - sigma_{i+1}) / 2. With few steps the last corrected step spans
a large range (3 steps: sigma 2.5 -> 0.002), at a noise level the network hardly ever saw (EDM draws
ln sigma ~ N(-1.2, 1.2^2) in training: sigma < 0.002 with probability 1.5e-5): Algorithm 2 then
saturates most pixels of a 5-NFE image. And a step over a large ratio is worse corrected than not
even with the exact denoiser: on Gaussian data (std 0.5), 4 steps give an RMS error of 1.0 with
the correction of the step 9.75 -> 0.47 and 0.24 without it (tests/test_edm_formulations.py).
Below 0.05 the image is all but finished, and EDM's 18-step schedule never divides sigma by more
than 3.8, so at 35 NFE only the 3 corrections below 0.05 are dropped (32 NFE); at 5 NFE and
fewer the sampler is Euler.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from echo_from_noise.errors import UserError

from .declared import option_names
from .noise import PerSampleNoise
from .process import Process
from .sigma_steps import NoiseLevelOptions, check_noise_levels

NAME = "heun"
SUMMARY = "EDM Heun solver of the probability-flow ODE (Algorithm 2; --s-churn 0 = Algorithm 1)"
DEFAULT_STEPS = 18  # EDM's CIFAR-10 setting: 35 NFE




@dataclass
class ChurnOptions:
    """EDM Algorithm 2's stochastic steps (heun and euler, on noise levels sigma)."""

    s_churn: float = field(default=0.0, metadata={"help": "S_churn of EDM Algorithm 2 (stochastic steps); 0 = deterministic Algorithm 1; the follow-up paper's code used 40"})
    s_min: float = field(default=0.02, metadata={"help": "churn only at noise levels >= S_min"})
    s_max: float = field(default=100.0, metadata={"help": "churn only at noise levels <= S_max"})
    s_noise: float = field(default=1.003, metadata={"help": "S_noise, the scale of the churn noise"})


@dataclass
class HeunOptions:
    heun_euler_below: float = field(default=0.05, metadata={"help": "a step to a noise level below this is an Euler step (no correction at sigma the network hardly saw); with --heun-max-ratio it removes the few-step artefact (saturated pixels at <= 10 NFE); 0 and --heun-max-ratio 0 = NVlabs' Algorithm 2 exactly"})
    heun_max_ratio: float = field(default=4.0, metadata={"help": "a step that divides sigma by more than this is an Euler step (EDM's 18-step schedule never exceeds 3.8); 0 = no limit"})


OPTIONS = (NoiseLevelOptions, ChurnOptions, HeunOptions)


def options_used(process: Process, own=(HeunOptions,)) -> tuple[str, ...]:
    """A flow's times are fixed (uniform, shifted) and take no churn: only Heun's thresholds."""
    return option_names(NoiseLevelOptions, ChurnOptions, *own) if process.churn else option_names(*own)


def check(options, process: Process, what: str) -> None:
    if process.churn:
        check_noise_levels(options)
    elif options.s_churn:
        raise UserError(f"--s-churn needs noise levels sigma ({what} is {process.formulation}); leave it 0")
    if getattr(options, "heun_euler_below", 0) < 0 or 0 < getattr(options, "heun_max_ratio", 0) <= 1:
        raise UserError("--heun-euler-below must be >= 0 and --heun-max-ratio 0 or > 1, got "
                        f"{options.heun_euler_below} and {options.heun_max_ratio}")


def nfe(steps: int) -> int:
    """At most (every step but the last corrected)."""
    return 2 * steps - 1


def corrected(sigma_hat: float, sigma_next: float, options) -> bool:
    """Whether the step sigma_hat -> sigma_next (EDM noise levels) takes Heun's correction (see
    the module text)."""
    if sigma_next <= 0 or sigma_next < options.heun_euler_below:
        return False
    return not options.heun_max_ratio or sigma_hat / sigma_next <= options.heun_max_ratio


def count_nfe(process: Process, steps: int, options) -> int:
    """Network evaluations of ``sample`` with these options on this process."""
    levels = process.levels(steps, options)
    return steps + sum(corrected(process.sigma_of(a * (1 + churn(a, steps, options))),
                                 process.sigma_of(b), options)
                       for a, b in zip(levels, levels[1:]))


def churn(sigma: float, steps: int, options) -> float:
    """gamma_i of Algorithm 2."""
    if options.s_churn > 0 and options.s_min <= sigma <= options.s_max:
        return min(options.s_churn / steps, math.sqrt(2.0) - 1.0)
    return 0.0


def sample(denoiser, process: Process, noise: PerSampleNoise, steps: int, options,
           progress: bool = False, second_order: bool = True) -> torch.Tensor:
    D = process.clean_estimate(denoiser, noise.sample_shape[0], options.clip_denoised)
    sigmas = process.levels(steps, options)
    x = noise() * sigmas[0]
    for i in tqdm(range(steps), desc=NAME if second_order else "euler", leave=False,
                  disable=not progress):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        gamma = churn(sigma, steps, options)
        sigma_hat = sigma * (1 + gamma)
        if gamma > 0:
            x = x + math.sqrt(sigma_hat**2 - sigma**2) * options.s_noise * noise()
        slope = (x - D(x, sigma_hat)) / sigma_hat
        x_next = x + (sigma_next - sigma_hat) * slope
        if second_order and corrected(process.sigma_of(sigma_hat), process.sigma_of(sigma_next), options):
            slope_next = (x_next - D(x_next, sigma_next)) / sigma_next
            x_next = x + (sigma_next - sigma_hat) * 0.5 * (slope + slope_next)
        x = x_next
    return x
