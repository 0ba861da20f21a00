"""Timestep respacing (improved DDPM, Nichol & Dhariwal 2021, section 4).

Sampling with K < T steps keeps K of the T timesteps, evenly spaced and including the first and the
last. The kept alphas_cumprod define a new, shorter diffusion whose betas are
beta'_k = 1 - abar_{tau_k} / abar_{tau_{k-1}}; its index k is given to the network as the original
timestep tau_k (``timestep_map``). A learned variance is interpolated between the respaced beta'_k and
the respaced posterior variance, as the network's output fraction means "between the two bounds of
this step", whatever the step size.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from echo_from_noise.errors import UserError

from .ddpm import GaussianDiffusion


def space_timesteps(num_timesteps: int, steps: int) -> np.ndarray:
    """``steps`` timesteps out of 0..num_timesteps-1, evenly spaced, first and last included."""
    if not 1 <= steps <= num_timesteps:
        raise UserError(f"--steps must be between 1 and the model's {num_timesteps} timesteps, "
                        f"got {steps}")
    if steps == 1:
        return np.array([num_timesteps - 1])
    stride = (num_timesteps - 1) / (steps - 1)
    kept = np.array([round(k * stride) for k in range(steps)])  # round half to even, as the reference
    assert len(np.unique(kept)) == steps
    return kept


def respace_betas(alphas_cumprod: np.ndarray, timesteps: np.ndarray) -> np.ndarray:
    """The betas of the diffusion that visits only ``timesteps`` (sorted) of the original one."""
    kept = np.asarray(alphas_cumprod, dtype=np.float64)[np.asarray(timesteps)]
    previous = np.concatenate([[1.0], kept[:-1]])
    return 1.0 - kept / previous


def respaced_diffusion(betas: np.ndarray, learn_sigma: bool, steps: int):
    """(GaussianDiffusion over ``steps`` kept timesteps, map from its indices to the model's timesteps)."""
    betas = np.asarray(betas, dtype=np.float64)
    timesteps = space_timesteps(len(betas), steps)
    alphas_cumprod = np.cumprod(1.0 - betas)
    new_betas = respace_betas(alphas_cumprod, timesteps)
    return GaussianDiffusion(new_betas, learn_sigma=learn_sigma), timesteps


def reverse_steps(timestep_map: np.ndarray, x: torch.Tensor, desc: str,
                  progress: bool = False) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """(k, index k, the model's timestep) for each step of the respaced diffusion, the last
    first, as tensors over the batch of ``x``."""
    batch = (x.shape[0],)
    for k in tqdm(range(len(timestep_map) - 1, -1, -1), desc=desc, leave=False, disable=not progress):
        yield (k, torch.full(batch, k, dtype=torch.long, device=x.device),
               torch.full(batch, float(timestep_map[k]), device=x.device))
