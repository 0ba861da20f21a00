"""Floating-point operations of the diffusion network, counted by torch.utils.flop_counter (2 per
multiply-add: convolutions, matmuls, attention), so costs compare across machines:

    forward_gflop(model_config)            one network evaluation (NFE) of one image
    training_gflop_per_image(model_config) forward and backward of one training image
    decoder_gflop(autoencoder)             decoding one latent into an image (latent models)

A training step costs training_gflop_per_image x batch x processes; an image costs NFE x
forward_gflop (twice the images with classifier-free guidance) plus the decode.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import ModelConfig
from .network.unet import SPADEUNet


def gflop(run: Callable[[], object], backward: bool = False) -> float:
    """GFLOP of ``run()`` (and of the backward pass of its summed output with ``backward``)."""
    with FlopCounterMode(display=False) as counter:
        with torch.set_grad_enabled(backward):
            out = run()
        if backward:
            out.float().sum().backward()
    return counter.get_total_flops() / 1e9


def network_inputs(config: ModelConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One image, timestep and map of the network's size (a map of tissue only: its content does
    not change the cost)."""
    side = config.image_size
    y = torch.zeros(1, config.num_classes, side, side)
    y[:, min(2, config.num_classes - 1)] = 1.0
    return torch.randn(1, config.in_channels, side, side), torch.ones(1), y


def forward_gflop(config: ModelConfig, network: SPADEUNet | None = None) -> float:
    network = (network or SPADEUNet(config)).eval()
    return gflop(lambda: network(*network_inputs(config)))


def training_gflop_per_image(config: ModelConfig) -> float:
    network = SPADEUNet(config).train()
    return gflop(lambda: network(*network_inputs(config)), backward=True)


def decoder_gflop(autoencoder) -> float:
    side = autoencoder.config.latent_size
    return gflop(lambda: autoencoder.decode(torch.rand(1, 1, side, side)))
