"""The sampler options of every program that samples (the sampling program, the NFE study, the
pipeline), as one configuration derived from the samplers' own declarations (``declared``): which
sampler, its steps, each option some sampler declares (its help says which samplers read it), and
whether to clip. ``explicit`` holds the options given on the command line, so that one the chosen
sampler does not read is refused rather than silently ignored."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import field

from .declared import option_names, options_used
from .registry import SAMPLERS, default_steps_help


def _declared_fields() -> list[tuple]:
    readers: dict[str, list[str]] = {}
    fields: dict[str, tuple] = {}
    for name, module in SAMPLERS.items():
        for group in module.OPTIONS:
            hints = typing.get_type_hints(group)
            for f in dataclasses.fields(group):
                readers.setdefault(f.name, []).append(name)
                fields.setdefault(f.name, (f, hints[f.name]))
    specs = []
    for option, (f, tp) in fields.items():
        metadata = dict(f.metadata, help=f"{', '.join(readers[option])}: {f.metadata.get('help', '')}")
        specs.append((option, tp, field(default=f.default, metadata=metadata)))
    return specs


def sampler_config_class() -> type:
    """The configuration of the samplers now registered (built once below, at import)."""
    return dataclasses.make_dataclass("SamplerConfig", [
        ("sampler", str, field(default="ddpm", metadata={"help": "sampling method (listed above; ddpm and ddim need a ddpm checkpoint)", "choices": SAMPLERS})),  # (the live registry: a sampler registered later is a choice)
        ("steps", int, field(default=0, metadata={"help": f"sampler steps; 0 = the sampler's default ({default_steps_help()})"})),
        *_declared_fields(),
        ("clip_denoised", bool, field(default=True, metadata={"help": "clip each prediction of the clean image to [-1, 1]"})),
        ("explicit", tuple, field(default=(), metadata={"cli": False, "help": "the options given on the command line (set by the program)"})),
    ], namespace={"__doc__": "Which sampler, its steps and every sampler's own options."})


SamplerConfig = sampler_config_class()

SAMPLER_OPTIONS = tuple(f.name for f in dataclasses.fields(SamplerConfig)
                        if f.name not in ("sampler", "steps", "clip_denoised", "explicit"))


def unused_options(sampler: str, process, given) -> list[str]:
    """The sampler options among ``given`` that ``sampler`` does not read on this process."""
    used = set(options_used(SAMPLERS[sampler], process))
    return [name for name in given if name in SAMPLER_OPTIONS and name not in used]


__all__ = ["SamplerConfig", "SAMPLER_OPTIONS", "option_names", "unused_options"]
