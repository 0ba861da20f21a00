"""Resumed training runs: a training program killed part-way and started again with the same
command must end with the checkpoint of an uninterrupted run, entry for entry."""
from __future__ import annotations

import subprocess
from typing import Callable

import torch

from .conftest import REPO, kill_when, subprocess_env


def kill_and_resume(command: list[str], ready: Callable[[], bool],
                    checkpoints: Callable[[], list[tuple[int, str]]], last: int) -> None:
    """Run ``command`` (a training program), SIGKILL it as soon as ``ready()`` holds, check that
    it was killed part-way (``checkpoints()`` lists some, none numbered ``last`` or later yet),
    then run the same command to its end.

    Both runs use as many threads as this process, where the uninterrupted reference runs:
    another thread count sums in another order.
    """
    env = {**subprocess_env(), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    kill_when(command, ready, env)
    saved = [number for number, _ in checkpoints()]
    assert saved and saved[-1] < last, saved
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, timeout=300)


def assert_same_checkpoint(a: dict, b: dict, weights: tuple[str, ...] = ("model",)) -> None:
    """The same step, weights (each state dict named in ``weights``), optimiser state and random
    generator states."""
    assert a["step"] == b["step"]
    for part in weights:
        for name, value in a[part].items():
            assert torch.equal(value, b[part][name]), (part, name)
    for index, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][index][key]), (index, key)
    assert_same_rng_states(a["rng"], b["rng"])


def assert_same_rng_states(a: dict, b: dict) -> None:
    """Every generator state a checkpoint stores (torch, numpy, Python) is the same."""
    assert torch.equal(a["torch"], b["torch"])
    assert torch.equal(a["numpy"]["keys"], b["numpy"]["keys"])
    assert {k: v for k, v in a["numpy"].items() if k != "keys"} == {k: v for k, v in b["numpy"].items() if k != "keys"}
    assert torch.equal(a["python"]["state"], b["python"]["state"])
    assert a["python"]["gauss_next"] == b["python"]["gauss_next"]
