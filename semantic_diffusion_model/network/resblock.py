"""Residual block with time conditioning; plain GroupNorms (encoder) or SPADE norms (decoder)."""
from __future__ import annotations

import torch
from torch import nn

from .layers import Downsample, Upsample, zero_module
from .spade import SPADEGroupNorm


class ResBlock(nn.Module):
    """guided-diffusion's ResBlock, and SDM's SDMResBlock when ``label_channels`` is given.

    h = conv(SiLU(norm1(x)));  h = norm2(h) * (1 + scale(t)) + shift(t)  (scale-shift norm)
    out = skip(x) + zero_conv(dropout(SiLU(h))).  With ``up``/``down`` the block also resamples
    (nearest up / average-pool down) both branches after the first norm.  With ``label_channels``
    both norms are SPADE (GroupNorm without affine, modulated by the label map).
    """

    def __init__(self, channels: int, emb_channels: int, out_channels: int | None = None,
                 dropout: float = 0.0, use_scale_shift_norm: bool = True, up: bool = False,
                 down: bool = False, label_channels: int | None = None, groups: int = 32,
                 spade_hidden: int = 128):
        super().__init__()
        out_channels = out_channels or channels
        self.spade = label_channels is not None
        self.use_scale_shift_norm = use_scale_shift_norm

        def norm(c: int) -> nn.Module:
            if self.spade:
                return SPADEGroupNorm(c, label_channels, groups, spade_hidden)
            return nn.GroupNorm(groups, c)

        self.in_norm = norm(channels)
        self.in_act = nn.SiLU()
        self.in_conv = nn.Conv2d(channels, out_channels, 3, padding=1)
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(
            nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels))
        self.out_norm = norm(out_channels)
        self.out_layers = nn.Sequential(
            nn.SiLU(), nn.Dropout(dropout),
            zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)))
        self.skip = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def _norm(self, norm: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return norm(x, y) if self.spade else norm(x)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.in_act(self._norm(self.in_norm, x, y))
        h = self.in_conv(self.h_upd(h))
        x = self.x_upd(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self._norm(self.out_norm, h, y) * (1 + scale) + shift
        else:
            h = self._norm(self.out_norm, h + emb_out, y)
        return self.skip(x) + self.out_layers(h)
