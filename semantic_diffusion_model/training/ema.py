"""Exponential moving average of the network's weights (the weights used for sampling).

With warm-up (the default), step t uses rate_t = min(rate, (1 + t) / (10 + t)): early averages
forget the random initial weights at once (after 400 steps their share is ~1e-18) and the window
grows with training, to the full ``rate`` after (10 rate - 1) / (1 - rate) steps (~90 000 for
0.9999). Without it (runs made before warm-up existed) a fixed rate from step 0 keeps a share
rate^t of the initial weights: 0.9999^20000 = 13.5 %.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def ema_rate_at(step: int, rate: float, warmup: bool) -> float:
    """The rate of the update after optimiser step ``step`` (0-based)."""
    return min(rate, (1.0 + step) / (10.0 + step)) if warmup else rate


class EMA:
    """ema <- rate_t * ema + (1 - rate_t) * weights, after every optimiser step t."""

    def __init__(self, model: nn.Module, rate: float, warmup: bool = True):
        self.rate, self.warmup = rate, warmup
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        ema = list(self.model.parameters())
        rate = ema_rate_at(step, self.rate, self.warmup)
        torch._foreach_lerp_(ema, [p.detach() for p in model.parameters()], 1.0 - rate)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)
