"""Every formulation, by name: the one list that --formulation, checkpoints, the samplers' fit, the
pipeline and the study read. A formulation is a class of ``base.Formulation`` (one module each);
adding one is its file and one entry below (or ``register`` from outside, as a test does).
Code elsewhere asks a formulation object (``formulation_of``), never compares its name."""
from __future__ import annotations

from echo_from_noise.errors import UserError

from .base import Formulation
from .ddpm import DDPM
from .edm import EDM
from .rflow import RectifiedFlow
from .ve import VE
from .vp import VP

FORMULATIONS: dict[str, type[Formulation]] = {cls.name: cls for cls in (DDPM, EDM, VP, VE, RectifiedFlow)}


def register(cls: type[Formulation]) -> type[Formulation]:
    FORMULATIONS[cls.name] = cls
    return cls


def formulation_of(config, learn_sigma: bool = True) -> Formulation:
    """The formulation object of a DiffusionConfig (``learn_sigma``: the network's output layout)."""
    if config.formulation not in FORMULATIONS:
        raise UserError(f"unknown formulation {config.formulation!r}; known: {', '.join(FORMULATIONS)}")
    return FORMULATIONS[config.formulation](config, learn_sigma)


def samplers_for(name: str) -> tuple[str, ...]:
    return FORMULATIONS[name].samplers


def fits() -> dict[str, list[str]]:
    """sampler name -> the formulations whose checkpoints it fits."""
    table: dict[str, list[str]] = {}
    for name, cls in FORMULATIONS.items():
        for sampler in cls.samplers:
            table.setdefault(sampler, []).append(name)
    return table


def describe() -> str:
    return "; ".join(f"{name} = {cls.summary}" for name, cls in FORMULATIONS.items())
