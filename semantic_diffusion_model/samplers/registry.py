"""Every sampler, by name: the one list the sampling program, the pipeline, the study and --help
read. A sampler is a module with NAME, SUMMARY, DEFAULT_STEPS (0 = all T steps of a ddpm model),
nfe(steps) and
sample(denoiser, process, noise, steps, options, progress) -> images (and optionally
check_steps(process, steps), raising UserError for steps it cannot take, and
count_nfe(process, steps, options) where the evaluations depend on the noise levels, as heun's);
adding one is its file and one entry below (and its name in the ``samplers`` of the formulations
it fits).
"""
from __future__ import annotations

import textwrap

from . import ddim, ddpm, dpm_solver, euler, heun

SAMPLERS = {module.NAME: module for module in (ddpm, ddim, dpm_solver, heun, euler)}
SAMPLER_NAMES = tuple(SAMPLERS)
# what to sample a model with when a preset's sampler does not fit it, in order of preference
FALLBACK = (heun.NAME, euler.NAME)


def fallback_sampler(fitting) -> str:
    """The sampler to use among ``fitting`` when the one asked for does not fit."""
    return next((name for name in FALLBACK if name in fitting), fitting[0])


def describe(fits: dict[str, list[str]]) -> str:
    """The samplers as --help lists them; ``fits``: sampler -> the formulations it fits (which the
    formulations know: formulations.fits)."""
    width = max(map(len, SAMPLER_NAMES)) + 4
    lines = []
    for name, module in SAMPLERS.items():
        checkpoints = ", ".join(fits.get(name, [])) or "none"
        text = (f"{module.SUMMARY}. Checkpoints: {checkpoints}; default steps "
                f"{module.DEFAULT_STEPS or 'all T'}; NFE {nfe_rule(module)}.")
        lines += textwrap.wrap(text, 100, initial_indent=f"  {name:<{width - 2}}",
                               subsequent_indent=" " * width)
    return "\n".join(lines)


def nfe_rule(module) -> str:
    """nfe(steps) = a steps + b as text (every sampler's count is linear in the steps)."""
    a, b = module.nfe(2) - module.nfe(1), module.nfe(1) - (module.nfe(2) - module.nfe(1))
    return ("= steps" if (a, b) == (1, 0) else
            f"= {a} x steps {'-' if b < 0 else '+'} {abs(b)}" if b else f"= {a} x steps")


def default_steps_help() -> str:
    return "; ".join(f"{name} {module.DEFAULT_STEPS or 'all T'}" for name, module in SAMPLERS.items())
