"""Timing helpers of the benchmark scripts: wall time that waits for the GPU to finish."""
from __future__ import annotations

import time
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
