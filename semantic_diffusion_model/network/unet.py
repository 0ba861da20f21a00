"""The SPADE UNet of the semantic diffusion model (guided-diffusion UNet + SDM decoder).

Encoder: unconditional residual blocks (plain GroupNorm) with self-attention at the chosen
resolutions, residual blocks doing the down sampling. Middle block and every decoder block: both
norms of each residual block are SPADE norms driven by the one-hot label map. The timestep enters
every residual block as a scale and shift. Output: epsilon (C channels) and, with learned sigma,
the variance interpolation v in [-1, 1] (C more channels; see diffusion.GaussianDiffusion).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .attention import AttentionBlock
from ..config import ModelConfig
from .layers import Downsample, Upsample, timestep_embedding, zero_module
from .resblock import ResBlock


class Block(nn.Sequential):
    """A sequence of residual / attention / resampling layers fed (h, time embedding, label map)."""

    def forward(self, h: torch.Tensor, emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                h = layer(h, emb, y if layer.spade else None)
            else:
                h = layer(h)
        return h


class SPADEUNet(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        mc, groups = config.model_channels, config.norm_groups
        mult = config.resolved_channel_mult()
        if config.image_size % 2 ** (len(mult) - 1):
            raise ValueError(f"image size {config.image_size} is not divisible by "
                             f"2^{len(mult) - 1} ({len(mult)} levels)")
        emb_ch = 4 * mc
        common = dict(emb_channels=emb_ch, dropout=config.dropout, groups=groups,
                      use_scale_shift_norm=config.use_scale_shift_norm)
        spade = dict(label_channels=config.num_classes, spade_hidden=config.spade_hidden)

        def attention(ch: int) -> AttentionBlock:
            return AttentionBlock(ch, config.num_head_channels, groups)

        self.time_embed = nn.Sequential(nn.Linear(mc, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))

        self.input_blocks = nn.ModuleList([Block(nn.Conv2d(config.in_channels, mc, 3, padding=1))])
        skip_channels, ch, res = [mc], mc, config.image_size
        for level, m in enumerate(mult):
            for _ in range(config.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, out_channels=m * mc, **common)]
                ch = m * mc
                if res in config.attention_resolutions:
                    layers.append(attention(ch))
                self.input_blocks.append(Block(*layers))
                skip_channels.append(ch)
            if level != len(mult) - 1:
                self.input_blocks.append(Block(
                    ResBlock(ch, down=True, **common) if config.resblock_updown
                    else Downsample(ch, use_conv=True)))
                skip_channels.append(ch)
                res //= 2

        self.middle_block = Block(ResBlock(ch, **common, **spade), attention(ch),
                                  ResBlock(ch, **common, **spade))

        self.output_blocks = nn.ModuleList()
        for level, m in reversed(list(enumerate(mult))):
            for i in range(config.num_res_blocks + 1):
                layers = [ResBlock(ch + skip_channels.pop(), out_channels=m * mc, **common, **spade)]
                ch = m * mc
                if res in config.attention_resolutions:
                    layers.append(attention(ch))
                if level and i == config.num_res_blocks:
                    layers.append(ResBlock(ch, up=True, **common, **spade) if config.resblock_updown
                                  else Upsample(ch, use_conv=True))
                    res *= 2
                self.output_blocks.append(Block(*layers))

        self.out = nn.Sequential(nn.GroupNorm(groups, ch), nn.SiLU(),
                                 zero_module(nn.Conv2d(ch, config.out_channels, 3, padding=1)))

    def _run(self, block: Block, h: torch.Tensor, emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.config.grad_checkpoint and torch.is_grad_enabled():
            return checkpoint(block, h, emb, y, use_reentrant=False)
        return block(h, emb, y)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W), timesteps t (N,) (may be non-integer), one-hot map y (N, K, H, W)."""
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(t, self.config.model_channels))
        y = y.to(x.dtype)
        skips = []
        h = x
        for block in self.input_blocks:
            h = self._run(block, h, emb, y)
            skips.append(h)
        h = self._run(self.middle_block, h, emb, y)
        for block in self.output_blocks:
            h = self._run(block, torch.cat([h, skips.pop()], dim=1), emb, y)
        return self.out(h)
