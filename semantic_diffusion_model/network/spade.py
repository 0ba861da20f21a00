"""SPADE normalisation: a parameter-free GroupNorm modulated by the label map."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SPADEGroupNorm(nn.Module):
    """out = GroupNorm(x) * (1 + gamma(y)) + beta(y), gamma and beta computed from the one-hot map y.

    The map is resized (nearest) to the feature size, then 3x3 conv to ``hidden`` + ReLU, then two
    3x3 convs give gamma and beta per channel and pixel (Park et al. 2019; SDM, Wang et al. 2022).
    """

    def __init__(self, channels: int, label_channels: int, groups: int = 32, hidden: int = 128,
                 eps: float = 1e-5):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=eps, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        normalized = self.norm(x)
        y = F.interpolate(y, size=x.shape[-2:], mode="nearest")
        actv = self.mlp_shared(y)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)
