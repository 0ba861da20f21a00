"""Multi-head self-attention over the pixels of a feature map (guided-diffusion AttentionBlock)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import zero_module


class AttentionBlock(nn.Module):
    """x + proj(attention(GroupNorm(x))), heads of ``head_channels`` channels each.

    The attention itself is torch's scaled_dot_product_attention, which picks the fused
    (flash / memory-efficient) kernels on GPU.
    """

    def __init__(self, channels: int, head_channels: int = 64, groups: int = 32):
        super().__init__()
        if channels % head_channels:
            raise ValueError(f"{channels} channels are not divisible into heads of {head_channels}")
        self.num_heads = channels // head_channels
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x).reshape(n, c, h * w))            # (N, 3C, L)
        q, k, v = qkv.reshape(n, 3, self.num_heads, c // self.num_heads, h * w).unbind(1)
        # (N, heads, L, head_channels) for SDPA
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2),
                                             v.transpose(-1, -2))
        out = out.transpose(-1, -2).reshape(n, c, h * w)
        return x + self.proj_out(out).reshape(n, c, h, w)
