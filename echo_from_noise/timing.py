"""Timing for the benchmarks (scripts/benchmark_*.py): wall time that waits for the GPU to finish,
JSON results."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

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
