"""A formulation's parameter, declared with the range it must lie in: ``parameter(0.5, "standard
deviation of the data ...", above=0)`` is a field of its ``Parameters`` (the --help text is led by
the formulation's name: config.DiffusionConfig), ``range_rules`` the checks that the declared ranges
give, so that no range is written twice (once as the test, once as the message)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Range:
    """Above ``low`` (or at it, when ``inclusive``) and, when ``high`` is given, below it."""

    low: float
    inclusive: bool = False
    high: Optional[float] = None

    def holds(self, value: float) -> bool:
        return ((value >= self.low if self.inclusive else value > self.low)
                and (self.high is None or value < self.high))

    def __str__(self) -> str:  # "> 0", ">= 1", "in (0, 1)"
        if self.high is None:
            return f"{'>=' if self.inclusive else '>'} {self.low}"
        return f"in {'[' if self.inclusive else '('}{self.low}, {self.high})"


def parameter(default: Any, help_text: str, *, above: float | None = None,
              at_least: float | None = None, below: float | None = None,
              choices: tuple[str, ...] | None = None) -> Any:
    """The field of a parameter: its default, --help text, and the range it is checked against
    (``above`` or ``at_least`` a lower bound, ``below`` an upper one) or its ``choices``."""
    metadata: dict[str, Any] = {"help": help_text}
    if choices:
        metadata["choices"] = choices
    if above is not None or at_least is not None:
        metadata["range"] = Range(at_least if above is None else above, above is None, below)
    return dataclasses.field(default=default, metadata=metadata)


def range_rules(parameters: type, config: Any) -> list[tuple[bool, str]]:
    """(holds, message) of each parameter of the dataclass ``parameters`` declared with a range,
    for its value in ``config``: "--vp-m must be >= 1, got 0"."""
    rules = []
    for f in dataclasses.fields(parameters):
        if "range" in f.metadata:
            value = getattr(config, f.name)
            rules.append((f.metadata["range"].holds(value),
                          f"--{f.name.replace('_', '-')} must be {f.metadata['range']}, got {value}"))
    return rules
