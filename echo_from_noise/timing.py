"""Timing for the benchmarks (scripts/benchmark_*.py): wall time that waits for the GPU to finish,
results as JSON and as a printed table."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import torch


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(run: Callable[[int], object], repeats: int, device: torch.device) -> float:
    """Median wall time of ``run(repeat)`` over ``repeats`` calls, synchronising the GPU."""
    times = []
    for repeat in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        run(repeat)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def write_results(path: str, results: object) -> None:
    """Write ``results`` as JSON to ``path`` when one was given (--json-out)."""
    if path:
        Path(path).write_text(json.dumps(results, indent=2) + "\n")


# a column of a printed table: its header, the format of its cells ("<10", ">10.3f": the header
# takes the alignment and width alone) and the key of a row's value, or a function of the row
Column = tuple[str, str, "str | Callable[[dict], Any]"]


def print_table(columns: list[Column], rows: list[dict]) -> None:
    """The headers, then one line per row."""
    print("".join(format(header, spec.split(".")[0]) for header, spec, _ in columns))
    for row in rows:
        print("".join(format(value(row) if callable(value) else row[value], spec)
                      for _, spec, value in columns))
