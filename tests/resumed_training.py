"""Resumed training runs: a training program killed part-way and started again with the same
command must end with the checkpoint of an uninterrupted run, entry for entry; the same command
once more then has nothing left to do."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from semantic_diffusion_model.autoencoder import checkpoint as autoencoder_checkpoint
from semantic_diffusion_model.training import checkpoint as diffusion_checkpoint
from semantic_diffusion_model.training.checkpoint_series import CheckpointSeries

from .conftest import REPO, kill_when, subprocess_env


@dataclass(frozen=True)
class TrainingProgram:
    """A training program whose runs resume: its module, its checkpoints, how one is read, and
    the state dicts of weights in one."""

    module: str
    series: CheckpointSeries
    read: Callable[[str], dict]
    weights: tuple[str, ...]


DIFFUSION = TrainingProgram("semantic_diffusion_model.train", diffusion_checkpoint.SERIES,
                            diffusion_checkpoint.load_checkpoint, ("model", "ema"))
GAMMA_VAE = TrainingProgram("semantic_diffusion_model.train_autoencoder",
                            autoencoder_checkpoint.SERIES, autoencoder_checkpoint.read_checkpoint,
                            ("model",))


def kill_and_resume(program: TrainingProgram, args: list[str], out: Path, kill_at: int,
                    kept: list[int], reference: Path) -> None:
    """Run ``program`` with ``args`` (writing to ``out``), SIGKILL it as soon as it wrote
    checkpoint ``kill_at``, check that it was killed part-way (before the last checkpoint of the
    uninterrupted run in ``reference``), then run the same command to its end: it must leave no
    temporary file, the checkpoints numbered ``kept``, the last one that of ``reference``.

    Both runs use as many threads as this process, where the uninterrupted reference runs:
    another thread count sums in another order.
    """
    command = [sys.executable, "-m", program.module, *args]
    env = {**subprocess_env(), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    kill_when(command, (out / program.series.name(kill_at)).exists, env)
    saved = [number for number, _ in program.series.list(str(out))]
    assert saved and saved[-1] < program.series.list(str(reference))[-1][0], saved
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, timeout=300)
    assert not list(out.glob(".*.tmp"))
    assert [number for number, _ in program.series.list(str(out))] == kept
    assert_same_last_checkpoint(program, reference, out)


def assert_same_last_checkpoint(program: TrainingProgram, a: Path, b: Path) -> None:
    """The last checkpoints of the runs in ``a`` and ``b`` are the same, entry for entry."""
    assert_same_checkpoint(*(program.read(program.series.latest(str(out))) for out in (a, b)),
                           program.weights)


def assert_nothing_left_to_do(rerun: Callable[[], object], out: Path) -> None:
    """The same command once more (``rerun``) on the finished run in ``out`` writes no file."""
    def written() -> dict[Path, int]:
        return {path: path.stat().st_mtime_ns for path in out.rglob("*") if path.is_file()}

    before = written()
    rerun()
    assert written() == before


def assert_same_checkpoint(a: dict, b: dict, weights: tuple[str, ...]) -> None:
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
