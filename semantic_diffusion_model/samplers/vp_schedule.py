"""The model's discrete noise schedule seen as a continuous-time VP process.

The network was trained on integer timesteps n = 0..T-1 with x_n = alpha_n x_0 + sigma_n eps,
alpha_n = sqrt(alphas_cumprod[n]), sigma_n = sqrt(1 - alpha_n^2). The ODE solvers need the schedule
at any time, so, as in the DPM-Solver paper (discrete-time models), timestep n sits at continuous
time t = (n + 1) / T and log alpha is interpolated piecewise linearly in t. The network is then
called with the (possibly fractional) timestep n = t T - 1, which is exactly a training timestep at
every grid point.

Two coordinates of the same process are used:
- log-SNR lambda(t) = log alpha_t - log sigma_t (DPM-Solver++),
- the EDM noise level sigma_edm = sigma_t / alpha_t, with x_edm = x_t / alpha_t (Heun).
"""
from __future__ import annotations

import numpy as np


class DiscreteVPSchedule:
    def __init__(self, alphas_cumprod: np.ndarray):
        abar = np.asarray(alphas_cumprod, dtype=np.float64)
        self.num_timesteps = len(abar)
        self.t_grid = np.arange(1, self.num_timesteps + 1, dtype=np.float64) / self.num_timesteps
        self.log_alpha_grid = 0.5 * np.log(abar)

    # --- continuous time t in [1/T, 1] ---
    @property
    def t_min(self) -> float:
        return float(self.t_grid[0])

    @property
    def t_max(self) -> float:
        return float(self.t_grid[-1])

    def log_alpha(self, t):
        return np.interp(t, self.t_grid, self.log_alpha_grid)

    def alpha(self, t):
        return np.exp(self.log_alpha(t))

    def sigma(self, t):
        return np.sqrt(-np.expm1(2.0 * self.log_alpha(t)))

    def log_snr(self, t):
        """lambda(t) = log(alpha_t / sigma_t)."""
        log_alpha = self.log_alpha(t)
        return log_alpha - 0.5 * np.log(-np.expm1(2.0 * log_alpha))

    def t_from_log_alpha(self, log_alpha):
        # log alpha decreases with t: interpolate on the reversed (increasing) grid
        return np.interp(log_alpha, self.log_alpha_grid[::-1], self.t_grid[::-1])

    def model_timestep(self, t):
        """The network's timestep for continuous time t (t = 1/T -> 0, t = 1 -> T-1)."""
        return np.asarray(t) * self.num_timesteps - 1.0

    # --- EDM coordinates ---
    def edm_sigma(self, t):
        """sigma_edm = sigma_t / alpha_t = sqrt(1/alphas_cumprod - 1)."""
        return np.sqrt(np.expm1(-2.0 * self.log_alpha(t)))

    def t_from_edm_sigma(self, sigma_edm):
        return self.t_from_log_alpha(-0.5 * np.log1p(np.square(sigma_edm)))

    @property
    def edm_sigma_min(self) -> float:
        return float(self.edm_sigma(self.t_min))

    @property
    def edm_sigma_max(self) -> float:
        return float(self.edm_sigma(self.t_max))
