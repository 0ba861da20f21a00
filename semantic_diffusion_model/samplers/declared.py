"""How a sampler module declares its options: ``OPTIONS``, a tuple of dataclasses whose fields are
options of every sampling program (``options.SamplerConfig`` is their union), and optionally
``options_used(process)``, the names of those it reads for a kind of checkpoint (default: all), and
``check(options, process, what)``, raising UserError for values it cannot take."""
from __future__ import annotations

import dataclasses


def option_names(*groups: type) -> tuple[str, ...]:
    return tuple(f.name for group in groups for f in dataclasses.fields(group))


def options_used(module, process) -> tuple[str, ...]:
    if hasattr(module, "options_used"):
        return module.options_used(process)
    return option_names(*module.OPTIONS)
