"""One entry of the study's --samplers: [FORMULATION:]SAMPLER[,option=value...], parsed into a
sampler, the formulation it is kept to, and options of the sampling program."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from echo_from_noise.errors import UserError
from semantic_diffusion_model.formulations import FORMULATIONS
from semantic_diffusion_model.samplers import SAMPLER_OPTIONS, SamplerConfig
from semantic_diffusion_model.samplers.registry import SAMPLER_NAMES, SAMPLERS


# option name -> its type (the samplers' own options and --clip-denoised)
SETTABLE = {f.name: f.type for f in dataclasses.fields(SamplerConfig)
            if f.name in (*SAMPLER_OPTIONS, "clip_denoised")}


@dataclass(frozen=True)
class SamplerSpec:
    """One entry of --samplers: [FORMULATION:]SAMPLER[,option=value...], e.g. edm:heun,s_churn=40
    (the options are the sampling program's, with underscores)."""
    formulation: str
    sampler: str
    options: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> "SamplerSpec":
        head, *settings = text.split(",")
        formulation, _, sampler = head.rpartition(":")
        if sampler not in SAMPLERS or formulation not in ("", *FORMULATIONS):
            raise UserError(f"--samplers {text}: expected [FORMULATION:]SAMPLER[,option=value...] "
                            f"with samplers {', '.join(SAMPLER_NAMES)} and formulations "
                            f"{', '.join(FORMULATIONS)}")
        options = []
        for setting in settings:
            key, _, value = setting.partition("=")
            if key not in SETTABLE or not value:
                raise UserError(f"--samplers {text}: {setting!r} is not option=value with an option "
                                f"of the sampling program ({', '.join(SETTABLE)})")
            options.append((key, value))
        return cls(formulation, sampler, tuple(options))

    @property
    def tag(self) -> str:
        """The sampler's name in run names: heun, heun-s_churn40, ..."""
        return self.sampler + "".join(f"-{k}{v}" for k, v in self.options)

    def config(self) -> SamplerConfig:
        return SamplerConfig(sampler=self.sampler, **{k: option_value(k, v) for k, v in self.options},
                             explicit=tuple(k for k, _ in self.options))

    def arguments(self) -> list[str]:
        """The options as arguments of semantic_diffusion_model.sample."""
        out = []
        for key, value in self.options:
            flag = key.replace("_", "-")
            if SETTABLE[key] is bool:
                out.append(f"--{flag}" if option_value(key, value) else f"--no-{flag}")
            else:
                out += [f"--{flag}", value]
        return out


def option_value(key: str, text: str):
    """The value of a sampler option given as text."""
    kind = SETTABLE[key]
    if kind is bool:
        return text.lower() in ("1", "true", "yes")
    try:
        return kind(text)
    except ValueError:
        raise UserError(f"--samplers: {key}={text} is not a {kind.__name__}") from None
