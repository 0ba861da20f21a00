"""rflow: rectified flow (Liu et al. 2023; the flow matching of Lipman et al. 2023 with straight
paths, as in MOTFM for mask-conditioned echocardiograms and MONAI's RFlowScheduler):

    x_t = (1 - t) x0 + t n,  n ~ N(0, I),  t in [0, 1];  the network predicts the velocity
    v = dx_t/dt = n - x0, trained with || v(x_t, t, y) - (n - x0) ||^2 (unweighted),

t drawn logit-normal (t = sigmoid(m + s z), z ~ N(0, 1); Esser et al. 2024's default m = 0, s = 1)
or uniform, then shifted t' = k t / (1 + (k - 1) t) (k > 1 spends more of training and sampling
at high noise, as SD3 and MONAI's timestep transform do for large images). The network's time input
is 1000 t, the ddpm timesteps' scale of its embedding. Sampling integrates dx/dt = v from pure
noise at t = 1 to t = 0 with euler or heun on the same shifted times, uniform before the shift
(``samplers.process.FlowProcess``). The clean-image estimate x - t v is what --clip-denoised clips
and what the log's 'mse' measures (t^2 times the velocity error).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..diffusion.likelihood import mean_flat
from ..samplers.process import FlowProcess, shift_time
from .base import Formulation
from .parameters import parameter

TIME_SCALE = 1000.0  # the network's time input is TIME_SCALE t


class VelocityNetwork(nn.Module):
    """v(x_t, t, y): the UNet with its time input on the ddpm timesteps' scale."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(x, TIME_SCALE * t.float(), y).float()


class RectifiedFlow(Formulation):
    name = "rflow"
    summary = "rectified flow: straight paths from the image to noise, velocity prediction"
    samplers = ("heun", "euler")

    class Parameters:
        rflow_time: str = parameter("logit-normal", "distribution of the training times t", choices=("logit-normal", "uniform"))
        rflow_mean: float = parameter(0.0, "mean m of the logit-normal t = sigmoid(m + s z)")
        rflow_std: float = parameter(1.0, "standard deviation s of the logit-normal", above=0)
        rflow_shift: float = parameter(1.0, "time shift k, t' = k t / (1 + (k - 1) t), in training and sampling (1 = none)", above=0)

    def network(self, net):
        return VelocityNetwork(net)

    def time_of_quantile(self, u: torch.Tensor) -> torch.Tensor:
        c = self.config
        if c.rflow_time == "logit-normal":
            u = torch.sigmoid(c.rflow_mean + c.rflow_std * math.sqrt(2.0) * torch.erfinv(2 * u - 1))
        return shift_time(u, c.rflow_shift)

    def draw(self, batch, generator, device):
        u = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
        return self.time_of_quantile(u).float(), u.float()

    def losses(self, network, x0, level, y, noise):
        t = level.reshape(-1, 1, 1, 1)
        velocity = network((1 - t) * x0 + t * noise, level, y)[:, :x0.shape[1]]
        loss = mean_flat((velocity - (noise - x0)) ** 2)
        return {"loss": loss, "mse": level ** 2 * loss, "vb": torch.zeros_like(loss)}

    def process(self):
        return FlowProcess(self.name, shift=self.config.rflow_shift, samplers=self.samplers)
