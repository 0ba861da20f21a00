"""SLURM node lists: the compact form ``node[01-03,07],gpu5`` -> host names, in order.

``expand_nodelist`` parses the form itself (ranges keep their zero padding, several bracket groups
in one name multiply out, as ``scontrol show hostnames`` does); ``first_node`` asks
``scontrol show hostnames`` when it is installed and answers, and falls back on the parser.
"""
from __future__ import annotations

import itertools
import re
import shutil
import subprocess

from .errors import UserError

_GROUP = re.compile(r"\[([^\[\]]*)\]")


def _split_top_level(nodelist: str) -> list[str]:
    """Split at the commas outside brackets: 'a[1,2],b' -> ['a[1,2]', 'b']."""
    parts, depth, current = [], 0, ""
    for char in nodelist:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise UserError(f"SLURM node list {nodelist!r}: ']' without '['")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise UserError(f"SLURM node list {nodelist!r}: '[' without ']'")
    return [*parts, current]


def _expand_range(item: str, nodelist: str) -> list[str]:
    """'01-03' -> ['01', '02', '03'] (padding of the first bound), '7' -> ['7']."""
    bounds = item.split("-")
    if len(bounds) == 1 and item.isdigit():
        return [item]
    if len(bounds) != 2 or not all(b.isdigit() for b in bounds) or int(bounds[0]) > int(bounds[1]):
        raise UserError(f"SLURM node list {nodelist!r}: bad range {item!r}")
    width = len(bounds[0])
    return [str(n).zfill(width) for n in range(int(bounds[0]), int(bounds[1]) + 1)]


def expand_nodelist(nodelist: str) -> list[str]:
    """Every host of a compact SLURM node list, in its order."""
    hosts = []
    for part in _split_top_level(nodelist.strip()):
        if not part:
            raise UserError(f"SLURM node list {nodelist!r}: empty name")
        pieces = _GROUP.split(part)  # text, group, text, group, ..., text
        choices = [[p] if i % 2 == 0 else
                   [n for item in p.split(",") for n in _expand_range(item, nodelist)]
                   for i, p in enumerate(pieces)]
        hosts += ["".join(combination) for combination in itertools.product(*choices)]
    return hosts


def first_node(nodelist: str) -> str:
    """The first host of a node list (``scontrol show hostnames`` when it works, else the parser)."""
    scontrol = shutil.which("scontrol")
    if scontrol:
        try:
            shown = subprocess.run([scontrol, "show", "hostnames", nodelist], capture_output=True,
                                   text=True, timeout=30)
            if shown.returncode == 0 and shown.stdout.split():
                return shown.stdout.split()[0]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return expand_nodelist(nodelist)[0]
