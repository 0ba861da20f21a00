"""The training program under mpiexec (mpich of the venv) and torchrun, 2 CPU processes (gloo)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import torch

from semantic_diffusion_model.training.checkpoint import list_checkpoints, load_checkpoint

from .conftest import REPO, subprocess_env
from .test_sdm_train import TINY

# every test here runs programs as subprocesses or trains several networks
pytestmark = pytest.mark.slow


TIMEOUT = 300


def env() -> dict[str, str]:
    """One thread per process: two processes already fill the two cores of CI."""
    return {**subprocess_env(), "OMP_NUM_THREADS": "1"}


def launchers(venv_bin) -> dict[str, list[str]]:
    return {"mpiexec": [str(venv_bin / "mpiexec"), "-n", "2", sys.executable],
            "torchrun": [str(venv_bin / "torchrun"), "--standalone", "--nproc_per_node", "2"]}


@pytest.fixture(scope="module")
def distributed_runs(small_labels, venv_bin, tmp_path_factory) -> dict:
    """4 steps of 2 processes x batch 2 on the real 2CH_ED maps, under each launcher."""
    runs = {}
    for name, launcher in launchers(venv_bin).items():
        out = tmp_path_factory.mktemp(f"sdm_{name}")
        result = subprocess.run(
            [*launcher, "-m", "semantic_diffusion_model.train", "--data-dir", str(small_labels),
             "--out-dir", str(out), *TINY, "--batch-size", "2", "--lr-anneal-steps", "4",
             "--save-interval", "10", "--log-interval", "2"],
            cwd=REPO, env=env(), capture_output=True, text=True, timeout=TIMEOUT)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[name] = (out, result)
    return runs


@pytest.mark.parametrize("name", ["mpiexec", "torchrun"])
def test_two_processes_write_one_checkpoint(distributed_runs, name):
    out, result = distributed_runs[name]
    assert [step for step, _ in list_checkpoints(str(out))] == [4]
    assert "1 process" not in result.stdout and "2 process(es) x batch 2" in result.stdout
    assert result.stdout.count("finished 4 steps") == 1  # only rank 0 reports
    state = load_checkpoint(str(out / "checkpoint_0000004.pt"))
    assert state["step"] == 4
    rows = (out / "progress.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "4"]


def test_both_launchers_train_identically(distributed_runs):
    a = load_checkpoint(str(distributed_runs["mpiexec"][0] / "checkpoint_0000004.pt"))
    b = load_checkpoint(str(distributed_runs["torchrun"][0] / "checkpoint_0000004.pt"))
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name


FAILING_RANK = textwrap.dedent("""
    from semantic_diffusion_model.training.distributed import barrier, init_distributed, stop_all_on_error
    ctx = init_distributed()
    assert ctx.world_size == 2, ctx
    with stop_all_on_error(ctx):
        if ctx.rank == 1:
            raise RuntimeError("rank 1 fails on purpose")
        barrier()  # rank 0 would wait here forever
""")


@pytest.mark.parametrize("name", ["mpiexec", "torchrun"])
def test_a_failing_rank_stops_the_job(venv_bin, tmp_path, name):
    script = tmp_path / "fail.py"
    script.write_text(FAILING_RANK)
    launcher = launchers(venv_bin)[name]
    command = [*launcher, str(script)]
    start = time.time()
    result = subprocess.run(command, cwd=REPO, env=env(), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "rank 1 fails on purpose" in result.stderr
    assert time.time() - start < 60  # stopped, not left waiting for the 30-minute collective timeout


def test_bad_input_under_mpiexec_is_one_error_and_exit_2(venv_bin, tmp_path):
    result = subprocess.run(
        [*launchers(venv_bin)["mpiexec"], "-m", "semantic_diffusion_model.train", "--data-dir",
         str(tmp_path / "missing"), "--out-dir", str(tmp_path / "out"), *TINY],
        cwd=REPO, env=env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "no map/image pairs" in errors[0], result.stderr
    assert not list_checkpoints(str(tmp_path / "out"))


@pytest.mark.parametrize("formulation", ["edm", "rflow"])
def test_edm_and_rflow_training_under_mpiexec(small_labels, venv_bin, tmp_path, formulation):
    """The EDM and rectified-flow formulations with label dropout under mpiexec (DDP around the
    preconditioned denoiser, the velocity network): rank 0 reports and saves, every step is
    logged with a finite loss."""
    out = tmp_path / formulation
    result = subprocess.run(
        [*launchers(venv_bin)["mpiexec"], "-m", "semantic_diffusion_model.train", "--data-dir",
         str(small_labels), "--out-dir", str(out), *TINY, "--formulation", formulation,
         "--label-dropout", "0.2", "--batch-size", "2", "--lr-anneal-steps", "3",
         "--save-interval", "10", "--log-interval", "1"],
        cwd=REPO, env=env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"training the {formulation} formulation" in result.stdout and "2 process(es)" in result.stdout
    state = load_checkpoint(str(out / "checkpoint_0000003.pt"))
    assert state["diffusion_config"]["formulation"] == formulation and state["step"] == 3
    rows = (out / "progress.csv").read_text().splitlines()[1:]
    assert len(rows) == 3 and all(float(r.split(",")[1]) > 0 for r in rows)
