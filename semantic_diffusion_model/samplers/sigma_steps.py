"""The noise levels sigma_0 > ... > sigma_{N-1} > sigma_N = 0 of the ODE solvers (EDM, Table 1 and
its generate.py), for --discretization:

    edm    uniform in sigma^(1/rho) (rho = 7)
    vp     sigma(t) of the VP process at t uniform in [1, epsilon_s], epsilon_s = 1e-3, with beta_d
           and beta_min refitted so that the ends are sigma_max and sigma_min
    ve     uniform in log sigma
    iddpm  N of the 1000 noise levels u_j of improved DDPM's cosine schedule in [sigma_min, sigma_max]

Unset --sigma-min / --sigma-max take the discretization's own defaults (edm 0.002..80, vp
0.0105..152, ve 0.02..100, iddpm 0.002..81), then both are clipped to the noise levels the model was
trained on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from echo_from_noise.errors import UserError

from ..diffusion.preconditioning import vp_sigma

DISCRETIZATIONS = ("edm", "vp", "ve", "iddpm")
EPSILON_S, IDDPM_M, IDDPM_C1, IDDPM_C2 = 1e-3, 1000, 0.001, 0.008


VP_BETA_D, VP_BETA_MIN = 19.9, 0.1  # the VP process of EDM's defaults
DEFAULT_RANGE = {"edm": (0.002, 80.0),
                 "vp": (float(vp_sigma(EPSILON_S, VP_BETA_D, VP_BETA_MIN)),
                        float(vp_sigma(1.0, VP_BETA_D, VP_BETA_MIN))),
                 "ve": (0.02, 100.0), "iddpm": (0.002, 81.0)}


@dataclass
class NoiseLevelOptions:
    """The options of the samplers that step through these noise levels."""

    discretization: str = field(default="edm", metadata={"help": "noise levels of the steps (EDM Table 1: edm = uniform in sigma^(1/rho), vp, ve, iddpm)", "choices": DISCRETIZATIONS})
    sigma_min: float = field(default=0.0, metadata={"help": "smallest noise level; 0 = the discretization's (edm 0.002), clipped to the model's"})
    sigma_max: float = field(default=0.0, metadata={"help": "largest noise level; 0 = the discretization's (edm 80), clipped to the model's"})
    rho: float = field(default=7.0, metadata={"help": "rho of the edm discretization"})


def check_noise_levels(options) -> None:
    if options.sigma_min < 0 or options.sigma_max < 0 or options.rho <= 0:
        raise UserError("--sigma-min and --sigma-max must be >= 0 and --rho > 0")
    if options.sigma_min and options.sigma_max and options.sigma_min >= options.sigma_max:
        raise UserError(f"--sigma-min {options.sigma_min} must be below --sigma-max {options.sigma_max}")


def sigma_range(discretization: str, sigma_min: float, sigma_max: float, model_min: float,
                model_max: float) -> tuple[float, float]:
    """(sigma_min, sigma_max) of the steps: given or the discretization's, clipped to the model's."""
    default_min, default_max = DEFAULT_RANGE[discretization]
    return max(sigma_min or default_min, model_min), min(sigma_max or default_max, model_max)


def iddpm_levels() -> np.ndarray:
    """u_0 < ... < u_M of improved DDPM's cosine schedule in EDM's sigma (EDM, Appendix C.3.4)."""
    def alpha_bar(j):
        return math.sin(0.5 * math.pi * j / IDDPM_M / (IDDPM_C2 + 1)) ** 2
    u = np.zeros(IDDPM_M + 1)
    for j in range(IDDPM_M, 0, -1):
        u[j - 1] = math.sqrt((u[j] ** 2 + 1) / max(alpha_bar(j - 1) / alpha_bar(j), IDDPM_C1) - 1)
    return u


def sigma_steps(discretization: str, steps: int, sigma_min: float, sigma_max: float,
                rho: float = 7.0) -> np.ndarray:
    """steps noise levels from sigma_max down to sigma_min, then 0 (steps + 1 values)."""
    if discretization not in DISCRETIZATIONS:
        raise ValueError(f"unknown discretization {discretization!r}")
    if steps == 1:
        return np.array([sigma_max, 0.0])
    i = np.arange(steps, dtype=np.float64) / (steps - 1)
    if discretization == "edm":
        inv_max, inv_min = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
        sigmas = (inv_max + i * (inv_min - inv_max)) ** rho
    elif discretization == "vp":
        log_min, log_max = math.log1p(sigma_min ** 2), math.log1p(sigma_max ** 2)
        beta_d = 2 * (log_min / EPSILON_S - log_max) / (EPSILON_S - 1)
        beta_min = log_max - 0.5 * beta_d
        sigmas = vp_sigma(1 + i * (EPSILON_S - 1), beta_d, beta_min).numpy()
    elif discretization == "ve":
        sigmas = sigma_max * (sigma_min / sigma_max) ** i
    else:
        u = iddpm_levels()
        kept = u[(u >= sigma_min) & (u <= sigma_max)]  # decreasing, as u
        sigmas = kept[np.round(i * (len(kept) - 1)).astype(int)]
    return np.append(sigmas, 0.0)


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> np.ndarray:
    """The edm discretization (Karras et al. 2022, eq. 5)."""
    return sigma_steps("edm", steps, sigma_min, sigma_max, rho)
