"""What a formulation is: everything that differs between ways of training and sampling the same
network (the interface that ``formulations.FORMULATIONS`` lists).

A formulation takes the diffusion configuration (``config.DiffusionConfig``, whose options are the
union of every formulation's ``Parameters``) and answers:
- ``network(net)``: the module that training differentiates and sampling calls as
  ``(x, level, y)``: the UNet itself, or the UNet inside an input/output scaling;
- ``draw(batch, generator, device)``: the noise level of each training example (a timestep, a
  sigma or a time) and its quantile in [0, 1) of the training distribution (the log's quarters);
- ``losses(network, x0, level, y, noise)``: per-example 'loss' (what is minimised), 'mse' (the
  unweighted error per pixel of what it regresses: ddpm's epsilon, else the clean image) and 'vb'
  (ddpm's variational term, else 0);
- ``process()``: what a sampler needs (``samplers.process``), including which samplers fit.
Class attributes: ``name``, ``summary`` (for --help), ``learns_variance`` (the network also predicts
a variance), ``samplers`` (names of the samplers that fit), ``Parameters`` (a dataclass of the
options it reads, named with the formulation's prefix, each declared with the range it must lie in:
``parameters.parameter``; a subclass writes a plain class and it becomes a dataclass when the
subclass is defined).
"""
from __future__ import annotations

from dataclasses import dataclass, is_dataclass

import torch
from torch import nn

from .parameters import range_rules


class Formulation:
    name: str = ""
    summary: str = ""
    learns_variance: bool = False
    samplers: tuple[str, ...] = ()

    @dataclass
    class Parameters:
        """No options of its own."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not is_dataclass(cls.Parameters):
            cls.Parameters = dataclass(cls.Parameters)

    def __init__(self, config, learn_sigma: bool = False):
        """``learn_sigma``: the network also outputs a variance (only where ``learns_variance``)."""
        self.config, self.learn_sigma = config, learn_sigma and self.learns_variance

    @classmethod
    def parameter_rules(cls, config) -> list[tuple[bool, str]]:
        """(holds, message) for each range its parameters must respect: those declared with them,
        then the ``relations`` between them."""
        return range_rules(cls.Parameters, config) + cls.relations(config)

    @staticmethod
    def relations(config) -> list[tuple[bool, str]]:
        """(holds, message) for each range that one parameter's value sets for another."""
        return []

    def network(self, net: nn.Module) -> nn.Module:
        raise NotImplementedError

    def draw(self, batch: int, generator: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def losses(self, network, x0: torch.Tensor, level: torch.Tensor, y: torch.Tensor,
               noise: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def process(self):
        raise NotImplementedError
