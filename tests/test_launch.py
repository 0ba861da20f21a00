"""How a program was started (echo_from_noise.launch): SLURM node lists, the launcher precedence,
SLURM job steps imitated by their variables on two local processes (no SLURM needed)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest

from echo_from_noise.errors import UserError
from echo_from_noise.launch import SlurmStep, launcher_of, process_count, require_one_process
from echo_from_noise.slurm_nodes import expand_nodelist, first_node

from .conftest import REPO, run_module, subprocess_env

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "PMI_RANK",
                    "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")


@pytest.mark.parametrize("nodelist, hosts", [
    ("vm", ["vm"]),
    ("node[01-03,07]", ["node01", "node02", "node03", "node07"]),
    ("a1,b[2-3],c", ["a1", "b2", "b3", "c"]),
    ("n[8-10]-ib", ["n8-ib", "n9-ib", "n10-ib"]),
    ("n[1-2]x[3-4]", ["n1x3", "n1x4", "n2x3", "n2x4"]),
    ("gpu[009-011]", ["gpu009", "gpu010", "gpu011"]),
])
def test_nodelists_expand_like_scontrol(nodelist, hosts):
    assert expand_nodelist(nodelist) == hosts


@pytest.mark.parametrize("nodelist, problem", [
    ("node[01-03", "'[' without ']'"), ("node01]", "']' without '['"), ("n[3-1]", "bad range"),
    ("n[a-b]", "bad range"), ("a,,b", "empty name")])
def test_bad_nodelists_are_one_line_errors(nodelist, problem):
    with pytest.raises(UserError) as error:
        expand_nodelist(nodelist)
    assert str(error.value).startswith(f"SLURM node list {nodelist!r}: ") and problem in str(error.value)


def test_first_node_without_scontrol(monkeypatch):
    monkeypatch.setenv("PATH", "")  # no scontrol: the parser answers
    assert first_node("node[07-09],login1") == "node07"


SLURM_TASK_1 = {"SLURM_JOB_ID": "4321", "SLURM_STEP_ID": "0", "SLURM_PROCID": "1",
                "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_JOB_NODELIST": "gpu[02-03]",
                "SLURM_STEP_NODELIST": "gpu[03-04]"}


@pytest.mark.slow
@pytest.mark.parametrize("extra, launcher", [
    ({}, "slurm"),
    ({"PMI_RANK": "1", "PMI_SIZE": "4"}, "mpi"),              # mpiexec in a batch script, --mpi=pmi2
    ({"OMPI_COMM_WORLD_SIZE": "4"}, "mpi"),                   # Open MPI's mpirun in an allocation
    ({"PMIX_RANK": "1"}, "mpi"),                              # srun --mpi=pmix
    ({"RANK": "1", "WORLD_SIZE": "4", "PMI_RANK": "0"}, "torchrun"),  # torchrun beats everything
])
def test_precedence_torchrun_then_mpi_then_slurm(extra, launcher):
    assert launcher_of({**SLURM_TASK_1, **extra}) == launcher


def test_the_batch_script_itself_is_one_process():
    batch = {k: v for k, v in SLURM_TASK_1.items() if k != "SLURM_STEP_ID"} | {"SLURM_PROCID": "0"}
    assert launcher_of(batch) == "single" and process_count(batch) == 1
    assert launcher_of({}) == "single"


def test_slurm_step_rank_world_local_rank_and_rendezvous(monkeypatch):
    monkeypatch.setenv("PATH", "")  # the parser, whether or not scontrol is installed
    step = SlurmStep.from_env(SLURM_TASK_1)
    # the step's first node (not the job's), port from the job id
    assert step == SlurmStep(rank=1, world_size=4, local_rank=1, host="gpu03", port=20000 + 4321)
    assert SlurmStep.from_env({**SLURM_TASK_1, "SLURM_JOB_ID": "123456"}).port == 20000 + 3456
    assert SlurmStep.from_env({**SLURM_TASK_1, "MASTER_PORT": "29512"}).port == 29512
    assert SlurmStep.from_env(SLURM_TASK_1, dist_host="10.0.0.5").host == "10.0.0.5"
    without_step_list = {k: v for k, v in SLURM_TASK_1.items() if k != "SLURM_STEP_NODELIST"}
    assert SlurmStep.from_env(without_step_list).host == "gpu02"
    one_task = {**SLURM_TASK_1, "SLURM_PROCID": "0", "SLURM_NTASKS": "1"}
    assert SlurmStep.from_env(one_task).world_size == 1 and process_count(one_task) == 1


@pytest.mark.parametrize("change, problem", [
    ({"SLURM_PROCID": "x"}, "SLURM_PROCID='x': expected a whole number"),
    ({"SLURM_PROCID": "4"}, "SLURM_PROCID=4 does not fit SLURM_NTASKS=4"),
    ({"SLURM_STEP_NODELIST": "", "SLURM_JOB_NODELIST": ""}, "--dist-host"),
    ({"SLURM_JOB_ID": None}, "without SLURM_JOB_ID")])
def test_bad_slurm_variables_are_one_line_errors(change, problem):
    env = {k: v for k, v in {**SLURM_TASK_1, **change}.items() if v is not None}
    with pytest.raises(UserError, match=problem):
        SlurmStep.from_env(env)


def test_one_process_programs_refuse_several_tasks(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in SLURM_TASK_1.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UserError, match="runs as one process, but slurm started 4"):
        require_one_process("echo_segmentation.train_view_classifier")
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_PROCID", "0")
    require_one_process("echo_segmentation.train_view_classifier")


def slurm_env(rank: int, port: int) -> dict[str, str]:
    """The variables srun gives task ``rank`` of a 2-task step on this host (nothing else)."""
    env = {k: v for k, v in subprocess_env().items() if k not in LAUNCH_VARIABLES}
    return {**env, "OMP_NUM_THREADS": "1", "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0",
            "SLURM_PROCID": str(rank), "SLURM_NTASKS": "2", "SLURM_LOCALID": str(rank),
            "SLURM_JOB_NODELIST": "localhost", "SLURM_STEP_NODELIST": "localhost",
            "MASTER_PORT": str(port)}


JOIN = textwrap.dedent("""
    import json, torch
    from semantic_diffusion_model.training.distributed import all_reduce_sum, init_distributed, shutdown
    ctx = init_distributed()
    total = all_reduce_sum(torch.tensor([float(ctx.rank + 1)]))
    print(json.dumps({"rank": ctx.rank, "world": ctx.world_size, "local": ctx.local_rank,
                      "launcher": ctx.launcher, "sum": total.item(),
                      "init": torch.distributed.distributed_c10d._default_pg_init_method}))
    shutdown()
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_with_slurm_variables_join_one_group(tmp_path):
    """Two local processes given the variables of a 2-task srun step meet at the first node and
    the port of MASTER_PORT, and a sum over both is 1 + 2."""
    script = tmp_path / "join.py"
    script.write_text(JOIN)
    port = free_port()
    tasks = [subprocess.Popen([sys.executable, str(script)], cwd=REPO, env=slurm_env(rank, port),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in (0, 1)]
    outputs = [task.communicate(timeout=120) for task in tasks]
    assert [task.returncode for task in tasks] == [0, 0], outputs
    seen = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    for rank, facts in enumerate(seen):
        assert facts == {"rank": rank, "world": 2, "local": rank, "launcher": "slurm", "sum": 3.0,
                         "init": f"tcp://localhost:{port}"}


@pytest.mark.slow
def test_view_classifier_under_a_two_task_step_is_one_error(tmp_path):
    env = slurm_env(1, free_port())
    result = subprocess.run(
        [sys.executable, "-m", "echo_segmentation.train_view_classifier", "--data-dir",
         str(tmp_path), "--out-dir", str(tmp_path / "out")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: echo_segmentation.train_view_classifier runs as one process, but slurm started 2: "
        "start it alone (srun --ntasks 1, or without mpiexec / torchrun)")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_dist_host_help_names_srun():
    shown = run_module("semantic_diffusion_model.train", "--help")
    assert "under mpiexec or srun" in " ".join(shown.stdout.split())
