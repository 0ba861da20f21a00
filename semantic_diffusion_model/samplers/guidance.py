"""The network as the samplers see it: label map fixed, classifier-free guidance, mixed precision.

Classifier-free guidance (Ho & Salimans 2022) over the label map: with the null map (all-zero
one-hot, what label dropout trained the model on)
    eps = eps(x, t, null) + s (eps(x, t, y) - eps(x, t, null)),
the conditional and unconditional passes batched together (one evaluation of a double batch).
The learned variance channels are taken from the conditional pass, as in the SDM reference code.
s = 1 is the plain conditional model and costs a single pass.
"""
from __future__ import annotations

import sys

import torch


def effective_guidance_scale(requested: float, label_dropout: float | None,
                             warn: bool = True) -> float:
    """The scale to use: 1 (off) when the model never learned the null map, with a warning."""
    if requested == 1.0:
        return 1.0
    if not label_dropout:
        if warn:
            print(f"warning: --guidance-scale {requested:g} ignored: the model was trained without "
                  "label dropout, so it never learned the null map; sampling without guidance",
                  file=sys.stderr)
        return 1.0
    return requested


class LabelConditionedDenoiser:
    """``denoiser(x_t, timestep)`` -> the network's output (float32) for the label maps ``y``.

    ``evaluations`` counts network evaluations (one per call, guided or not); ``images_evaluated``
    counts images pushed through the network (twice the batch per call when guided).
    """

    def __init__(self, model: torch.nn.Module, y: torch.Tensor, guidance_scale: float = 1.0,
                 autocast_dtype: torch.dtype | None = None):
        self.model = model
        self.y = y
        self.guidance_scale = float(guidance_scale)
        self.autocast_dtype = autocast_dtype
        self.evaluations = 0
        self.images_evaluated = 0
        if self.guided:
            self.y_pair = torch.cat([y, torch.zeros_like(y)])

    @property
    def guided(self) -> bool:
        return self.guidance_scale != 1.0

    def _network(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.images_evaluated += x.shape[0]
        with torch.autocast(x.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            return self.model(x, t, y).float()

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.evaluations += 1
        if not self.guided:
            return self._network(x, t, self.y)
        out = self._network(torch.cat([x, x]), torch.cat([t, t]), self.y_pair)
        cond, uncond = out.chunk(2)
        c = x.shape[1]
        eps = uncond[:, :c] + self.guidance_scale * (cond[:, :c] - uncond[:, :c])
        return torch.cat([eps, cond[:, c:]], dim=1)
