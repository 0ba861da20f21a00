"""The sbatch templates of scripts/slurm/ submitted, as written, to a real SLURM cluster (the
one-node cluster of `bash .ci/slurm.sh start`), with tiny settings: srun training equals torchrun
training bit for bit, a sampling job array makes each image once, the launcher precedence holds
inside a job. Skipped, with one reason, where no cluster answers."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from semantic_diffusion_model.training.checkpoint import load_checkpoint

from .conftest import REPO, subprocess_env
from .test_launch import LAUNCH_VARIABLES
from .test_sdm_train import TINY

pytestmark = pytest.mark.slow
TEMPLATES = REPO / "scripts" / "slurm"
TIMEOUT = 600
STEPS = 4
SAMPLE_ARGS = ["--sampler", "ddpm", "--steps", "4", "--batch-size", "1", "--views", "2CH_ED"]


def cluster_problem() -> str:
    """Why no job can run here ('' when the cluster takes jobs)."""
    if not shutil.which("sbatch") or not shutil.which("sinfo"):
        return "sbatch / sinfo not installed"
    try:
        shown = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo does not answer"
    if shown.returncode != 0:
        return f"sinfo failed: {shown.stderr.strip()[-200:]}"
    if not re.search(r"^(idle|mixed|allocated)", shown.stdout, re.MULTILINE):
        return f"no node takes jobs (states: {' '.join(shown.stdout.split()) or 'none'})"
    return ""


@pytest.fixture(scope="module")
def slurm() -> None:
    problem = cluster_problem()
    if problem:
        pytest.skip(f"no SLURM cluster here ({problem}); start one with `bash .ci/slurm.sh start`")


def job_env(**settings: str) -> dict[str, str]:
    """The submitting environment: the project importable, one thread per task, no launcher
    variables of the test run itself; sbatch passes it on to the job."""
    env = {k: v for k, v in subprocess_env().items()
           if k not in LAUNCH_VARIABLES and not k.startswith("SLURM_")}
    return {**env, "OMP_NUM_THREADS": "1", "EFN_PYTHON": sys.executable, **settings}


def submit_and_wait(script: Path | None, logs: Path, *options: str, wrap: str = "",
                    **settings: str) -> str:
    """sbatch a template (or --wrap a command) and wait for it; assert the job (every array task)
    ended with exit 0; -> the job's output files, concatenated."""
    logs.mkdir(parents=True, exist_ok=True)
    name = f"efn-test-{logs.parent.name}-{logs.name}"
    command = ["sbatch", "--parsable", "--job-name", name, "--output",
               str(logs / "%x-%A_%a.out"), *options, *(["--wrap", wrap] if wrap else [str(script)])]
    submitted = subprocess.run(command, cwd=REPO, env=job_env(**settings), capture_output=True,
                               text=True, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    try:
        states = wait_for_job(job)
    except TimeoutError:
        subprocess.run(["scancel", job], timeout=30)
        raise
    output = "".join(p.read_text() for p in sorted(logs.glob("*.out")))
    assert all(state == ("COMPLETED", "0:0") for state in states), f"{states}\n{output[-3000:]}"
    return output


def wait_for_job(job: str) -> list[tuple[str, str]]:
    """Poll scontrol every 0.3 s until every task of ``job`` has ended (sbatch --wait polls every
    ~10 s, which made each test wait that long) -> (JobState, ExitCode) of each task."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        shown = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True,
                               text=True, timeout=30)
        tasks = [(re.search(r"JobState=(\S+)", line).group(1), re.search(r"ExitCode=(\S+)", line).group(1))
                 for line in shown.stdout.splitlines() if "JobState=" in line]
        if tasks and all(state not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING",
                                       "SUSPENDED", "REQUEUED") for state, _ in tasks):
            return tasks
        time.sleep(0.3)
    raise TimeoutError(f"SLURM job {job} did not end within {TIMEOUT} s")


def train_args(data: Path, out: Path) -> list[str]:
    return ["--data-dir", str(data), "--views", "2CH_ED", "--out-dir", str(out), *TINY,
            "--batch-size", "2", "--lr-anneal-steps", str(STEPS), "--save-interval", "10",
            "--log-interval", "2", "--no-tensorboard", "--num-workers", "1"]


@pytest.fixture(scope="module")
def srun_training(slurm, small_labels, tmp_path_factory) -> tuple[Path, str]:
    """scripts/slurm/train.sbatch as a 2-task job: (its output folder, its output)."""
    work = tmp_path_factory.mktemp("slurm_train")
    output = submit_and_wait(TEMPLATES / "train.sbatch", work / "logs", "--nodes", "1", "--ntasks", "2",
                             EFN_ARGS=shlex.join(train_args(small_labels, work / "sdm")))
    return work / "sdm", output


def test_srun_training_is_one_job_of_two_processes(srun_training):
    out, output = srun_training
    assert "2 process(es) x batch 2" in output and output.count(f"finished {STEPS} steps") == 1
    assert sorted(p.name for p in out.glob("checkpoint_*.pt")) == [f"checkpoint_{STEPS:07d}.pt"]


def test_srun_training_equals_torchrun_training(srun_training, small_labels, venv_bin, tmp_path):
    out = tmp_path / "torchrun"
    result = subprocess.run(
        [str(venv_bin / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m",
         "semantic_diffusion_model.train", *train_args(small_labels, out)],
        cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    a = load_checkpoint(str(srun_training[0] / f"checkpoint_{STEPS:07d}.pt"))
    b = load_checkpoint(str(out / f"checkpoint_{STEPS:07d}.pt"))
    assert a["step"] == b["step"] == STEPS
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        for name, value in a[part].items():
            assert torch.equal(value, b[part][name]), f"{part}.{name}"


def test_sampling_array_makes_each_image_once(srun_training, small_labels, tmp_path):
    checkpoint = srun_training[0] / f"checkpoint_{STEPS:07d}.pt"
    shared = tmp_path / "samples"
    args = ["--checkpoint", str(checkpoint), "--maps-dir", str(small_labels), "--out-dir",
            str(shared), *SAMPLE_ARGS]
    output = submit_and_wait(TEMPLATES / "sample_array.sbatch", tmp_path / "logs", "--array", "0-1",
                             "--ntasks", "1", EFN_ARGS=shlex.join(args))
    maps = sorted(p.stem for p in (small_labels / "2CH_ED_augmented").rglob("*.png"))
    counts = [int(n) for n in re.findall(r"(\d+) images generated", output)]
    assert len(counts) == 2 and sum(counts) == len(maps) == 12, output[-3000:]  # none twice
    folder = shared / "2CH_ED"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["count"] == summary["done"] == 12 and summary["generated"] in counts
    assert sorted(p.stem for p in (folder / "samples").glob("*.png")) == maps
    assert [p.name for p in folder.rglob(".*")] == []  # no claims or temporaries left


LAUNCHER_OF_TASK = textwrap.dedent("""
    import json, torch
    from semantic_diffusion_model.training.distributed import all_reduce_sum, init_distributed, shutdown
    ctx = init_distributed()
    total = all_reduce_sum(torch.tensor([float(ctx.rank + 1)]))
    print(json.dumps({"rank": ctx.rank, "world": ctx.world_size, "launcher": ctx.launcher,
                      "sum": total.item()}))
    shutdown()
""")


@pytest.mark.parametrize("start, launcher", [
    ("srun --kill-on-bad-exit=1 {python} {script}", "slurm"),
    ("{venv}/mpiexec -n 2 {python} {script}", "mpi"),  # SLURM_* are set too: MPI still wins
    ("{python} {script}", "single"),  # the batch script itself is no job step
])
def test_launcher_inside_a_two_task_job(slurm, venv_bin, tmp_path, start, launcher):
    script = tmp_path / "task.py"
    script.write_text(LAUNCHER_OF_TASK)
    wrap = start.format(python=sys.executable, script=script, venv=venv_bin)
    output = submit_and_wait(None, tmp_path / "logs", "--ntasks", "2", wrap=wrap)
    seen = sorted((json.loads(line) for line in re.findall(r"\{[^{}]*\}", output)),
                  key=lambda facts: facts["rank"])  # the tasks' lines may share a line of the log
    world = 1 if launcher == "single" else 2
    assert seen == [{"rank": r, "world": world, "launcher": launcher, "sum": world * (world + 1) / 2}
                    for r in range(world)], output


def test_a_failing_task_ends_the_srun_job(slurm, tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(textwrap.dedent("""
        from semantic_diffusion_model.training.distributed import barrier, init_distributed, stop_all_on_error
        ctx = init_distributed()
        with stop_all_on_error(ctx):
            if ctx.rank == 1:
                raise RuntimeError("task 1 fails on purpose")
            barrier()  # task 0 would wait here for the 30-minute collective timeout
    """))
    start = time.monotonic()
    with pytest.raises(AssertionError, match="task 1 fails on purpose"):
        submit_and_wait(None, tmp_path / "logs", "--ntasks", "2", "--time", "3",
                        wrap=f"srun --kill-on-bad-exit=1 {sys.executable} {script}")
    assert time.monotonic() - start < 60  # ended, not stopped by the 3-minute time limit
