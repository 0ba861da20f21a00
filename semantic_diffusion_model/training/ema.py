"""Exponential moving average of the network's weights (the weights used for sampling)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """ema <- rate * ema + (1 - rate) * weights, after every optimiser step."""

    def __init__(self, model: nn.Module, rate: float):
        self.rate = rate
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ema = list(self.model.parameters())
        torch._foreach_lerp_(ema, [p.detach() for p in model.parameters()], 1.0 - self.rate)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)
