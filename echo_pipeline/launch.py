"""How the pipeline starts a multi-process stage (--launcher, with --gpus > 1).

    mpiexec   mpiexec -n GPUS python -m PROGRAM ...        (the virtual environment's mpiexec)
    torchrun  torchrun --standalone --nproc_per_node GPUS -m PROGRAM ...            (--nnodes 1)
              torchrun --nnodes N --nproc_per_node GPUS --rdzv-backend c10d
                       --rdzv-endpoint HOST:PORT -m PROGRAM ...     (--nnodes N: GPUS per node;
                       the same command must start on each of the N nodes, see docs/cluster.md)
    srun      srun --ntasks GPUS --kill-on-bad-exit=1 python -m PROGRAM ...   (SLURM: inside an
              allocation, e.g. a job of --slurm, or making its own; tasks may span nodes)
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from echo_from_noise.errors import UserError

PYTHON = [sys.executable, "-m"]


def venv_tool(name: str) -> str:
    """The virtual environment's own ``name`` (mpiexec, torchrun) when it has one, else ``name``."""
    tool = Path(sys.executable).parent / name
    return str(tool) if tool.exists() else name


def mpiexec(c: Any) -> list[str]:
    return [venv_tool("mpiexec"), "-n", str(c.gpus), *PYTHON]


def torchrun(c: Any) -> list[str]:
    if c.nnodes == 1:
        return [venv_tool("torchrun"), "--standalone", "--nproc_per_node", str(c.gpus), "-m"]
    return [venv_tool("torchrun"), "--nnodes", str(c.nnodes), "--nproc_per_node", str(c.gpus),
            "--rdzv-backend", c.rdzv_backend, "--rdzv-endpoint", c.rdzv_endpoint, "-m"]


def srun(c: Any) -> list[str]:
    return ["srun", "--ntasks", str(c.gpus), "--kill-on-bad-exit=1", *PYTHON]


LAUNCHERS = {"mpiexec": mpiexec, "torchrun": torchrun, "srun": srun}


def check_launch(c: Any) -> None:
    """--nnodes and the rendezvous options fit --launcher (one-line errors)."""
    if c.nnodes < 1:
        raise UserError(f"--nnodes {c.nnodes}: expected 1 or more")
    if c.nnodes > 1 and c.launcher != "torchrun":
        raise UserError(f"--nnodes {c.nnodes} is for --launcher torchrun (mpiexec and srun place "
                        "their processes on the nodes themselves)")
    host, _, port = c.rdzv_endpoint.rpartition(":")
    if c.nnodes > 1 and not (host and port.isdigit()):
        raise UserError(f"--nnodes {c.nnodes} needs --rdzv-endpoint HOST:PORT (got "
                        f"{c.rdzv_endpoint!r}): a node every node can reach, e.g. the first one")


def launcher_command(c: Any) -> list[str]:
    """The start of a diffusion stage's command: one process, or one per GPU with --launcher."""
    return LAUNCHERS[c.launcher](c) if c.gpus > 1 else PYTHON

