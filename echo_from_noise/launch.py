"""How a program was started: torchrun, mpiexec, a SLURM job step (srun) or one plain process.

The launcher is read from the environment; the first rule that applies wins:

1. torchrun: RANK and WORLD_SIZE are set (with LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
2. MPI: one of PMI_RANK, PMI_SIZE, OMPI_COMM_WORLD_SIZE, PMIX_RANK is set (mpiexec / mpirun of
   MPICH, Intel MPI or Open MPI, and srun --mpi=pmi2 / --mpi=pmix); mpi4py gives rank and size.
3. SLURM: SLURM_STEP_ID and SLURM_PROCID are set, i.e. the program is a task of a job step that
   ``srun`` started. Rank SLURM_PROCID, world size SLURM_NTASKS, local rank SLURM_LOCALID;
   rendezvous on the step's first node (SLURM_STEP_NODELIST, else SLURM_JOB_NODELIST) unless
   --dist-host names another, at port MASTER_PORT when set, else 20000 + SLURM_JOB_ID % 20000.
4. Otherwise one process.

Why this order: everything started inside a SLURM allocation inherits SLURM_* variables, so
torchrun or mpiexec run in a batch script (or under srun --mpi=pmi2) see them too; their own
variables say how the program really started. The batch script itself is no job step (SLURM sets
SLURM_PROCID=0 and the allocation's SLURM_NTASKS there, but no SLURM_STEP_ID): a program started
in it without srun is one process. A job step of one task is one process too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from .errors import UserError
from .slurm_nodes import first_node

LAUNCHERS = ("torchrun", "mpi", "slurm", "single")  # in the order they are recognised
MPI_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")
PORT_BASE, PORT_SPAN = 20000, 20000  # SLURM rendezvous port: PORT_BASE + job id % PORT_SPAN
DIST_HOST_HELP = ("rendezvous address under mpiexec or srun (default: rank 0's host name under "
                  "mpiexec, the job step's first node under srun)")  # --dist-host of every program


def launcher_of(env: Mapping[str, str] | None = None) -> str:
    """The launcher that started this process (see the module text): one of LAUNCHERS."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        return "torchrun"
    if any(name in env for name in MPI_VARIABLES):
        return "mpi"
    if "SLURM_STEP_ID" in env and "SLURM_PROCID" in env:
        return "slurm"
    return "single"


def _whole_number(env: Mapping[str, str], name: str, default: str | None = None) -> int:
    value = env.get(name, default)
    if value is None:
        raise UserError(f"SLURM job step without {name} in its environment")
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{name}={value!r}: expected a whole number") from None


@dataclass(frozen=True)
class SlurmStep:
    """This task of a SLURM job step and where the step's tasks meet."""

    rank: int
    world_size: int
    local_rank: int
    host: str
    port: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dist_host: str = "") -> "SlurmStep":
        env = os.environ if env is None else env
        rank, world = _whole_number(env, "SLURM_PROCID"), _whole_number(env, "SLURM_NTASKS", "1")
        local_rank = _whole_number(env, "SLURM_LOCALID", "0")
        if not 0 <= rank < world:
            raise UserError(f"SLURM_PROCID={rank} does not fit SLURM_NTASKS={world}")
        nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
        if world > 1 and not (dist_host or nodes):
            raise UserError("SLURM job step without SLURM_STEP_NODELIST or SLURM_JOB_NODELIST: "
                            "give the rendezvous host with --dist-host")
        if world == 1:  # one process: no rendezvous
            return cls(rank, world, local_rank, "", 0)
        if "MASTER_PORT" in env:
            port = _whole_number(env, "MASTER_PORT")
        else:
            port = PORT_BASE + _whole_number(env, "SLURM_JOB_ID") % PORT_SPAN
        return cls(rank, world, local_rank, dist_host or first_node(nodes), port)


def process_count(env: Mapping[str, str] | None = None) -> int:
    """How many processes the launcher started (1 for a plain process)."""
    env = os.environ if env is None else env
    launcher = launcher_of(env)
    if launcher == "torchrun":
        return _whole_number(env, "WORLD_SIZE")
    if launcher == "slurm":
        return _whole_number(env, "SLURM_NTASKS", "1")
    if launcher == "mpi":
        from mpi4py import MPI  # only under mpiexec: importing it initialises MPI

        return MPI.COMM_WORLD.Get_size()
    return 1


def require_one_process(program: str) -> None:
    """A one-process program started as several processes stops with a one-line error (instead
    of several copies writing the same output folder)."""
    count = process_count()
    if count > 1:
        raise UserError(f"{program} runs as one process, but {launcher_of()} started {count}: "
                        "start it alone (srun --ntasks 1, or without mpiexec / torchrun)")
