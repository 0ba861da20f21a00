"""One program, four launchers: a single process, ``mpiexec -n N``, ``torchrun`` and ``srun``.

``init_distributed`` finds out how it was started (echo_from_noise.launch, which documents the
precedence: torchrun's RANK / WORLD_SIZE first, then MPI's PMI variables, then a SLURM job step,
then a single process) and joins the process group:
- torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT (env:// rendezvous);
- under mpiexec, mpi4py gives rank and size, and rank 0 broadcasts its host name (or --dist-host)
  and a free port for a tcp:// rendezvous, so several nodes work the same way as one;
- under ``srun python -m ...`` (a SLURM job step of several tasks) rank, size and local rank come
  from SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID and the tcp:// rendezvous is the step's first
  node (or --dist-host) at a port derived from the job id (or MASTER_PORT);
- otherwise (or a job step of one task) it is a single process and no process group is made.
NCCL on GPUs (one per local rank, chosen with torch.cuda.set_device; a SLURM task that sees one
GPU, as with srun --gpus-per-task=1, uses that one), gloo on CPU.

``stop_all_on_error`` makes a failure on one rank end the whole job instead of leaving the other
ranks waiting forever in a collective: MPI_Abort under mpiexec, an immediate non-zero exit under
torchrun (whose agent then stops the other workers) and srun (started with --kill-on-bad-exit=1,
as the templates in scripts/slurm/ do, srun then stops the other tasks).
"""
from __future__ import annotations

import contextlib
import datetime
import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist

from echo_from_noise.errors import UserError
from echo_from_noise.launch import SlurmStep, launcher_of

TIMEOUT = datetime.timedelta(minutes=30)  # covers rank 0 writing a large checkpoint


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    launcher: str = "single"  # single | mpi | torchrun | slurm

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _pick_device(local_rank: int, launcher: str = "single") -> torch.device:
    if not torch.cuda.is_available():
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if launcher == "slurm" and count == 1:
        local_rank = 0  # srun gave this task its own GPU (--gpus-per-task=1): the only one it sees
    if local_rank >= count:
        raise UserError(f"local rank {local_rank} has no GPU ({count} visible): "
                        "start at most one process per GPU on each node")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def init_distributed(dist_host: str = "") -> DistContext:
    """Join the process group of however this program was launched (see the module text)."""
    launcher = launcher_of()
    if launcher == "torchrun":
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        init_method = "env://"
    elif launcher == "mpi":
        from mpi4py import MPI  # only under mpiexec: importing it initialises MPI

        comm = MPI.COMM_WORLD
        rank, world = comm.Get_rank(), comm.Get_size()
        local_rank = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
        address = (dist_host or socket.gethostname(), _free_port()) if rank == 0 else None
        host, port = comm.bcast(address, root=0)
        init_method = f"tcp://{host}:{port}"
    elif launcher == "slurm":
        step = SlurmStep.from_env(dist_host=dist_host)
        rank, world, local_rank = step.rank, step.world_size, step.local_rank
        init_method = f"tcp://{step.host}:{step.port}"
    else:
        return DistContext(device=_pick_device(0))
    device = _pick_device(local_rank, launcher)
    context = DistContext(rank, world, local_rank, device, launcher)
    if world > 1:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world,
                                timeout=TIMEOUT, device_id=device if device.type == "cuda" else None)
    return context


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks, in place (identity in a single process)."""
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s object on every rank."""
    if not dist.is_initialized():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


@contextlib.contextmanager
def stop_all_on_error(context: DistContext) -> Iterator[None]:
    """On any exception in a multi-process job: report it, then end every rank now."""
    try:
        yield
    except BaseException as error:
        if not context.distributed or (isinstance(error, SystemExit) and not error.code):
            raise
        if isinstance(error, UserError):
            if not context.is_main:  # bad input usually fails every rank: let rank 0 report it
                time.sleep(2)
            where = "" if context.is_main else f" (rank {context.rank})"
            print(f"error{where}: {error}", file=sys.stderr)
            code = 2
        elif isinstance(error, KeyboardInterrupt):
            print(f"interrupted (rank {context.rank}): re-run the same command to resume",
                  file=sys.stderr)
            code = 130
        elif isinstance(error, SystemExit):
            code = error.code if isinstance(error.code, int) else 1
        else:
            # One write, the error on its first line: MPI_Abort may cut the output stream short.
            print(f"rank {context.rank} failed: {type(error).__name__}: {error}\n"
                  + traceback.format_exc(), file=sys.stderr, end="")
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        if context.launcher == "mpi":
            from mpi4py import MPI  # only under mpiexec: importing it initialises MPI
            time.sleep(0.5)  # let mpiexec forward the message before it kills the job
            MPI.COMM_WORLD.Abort(code)
        os._exit(code)


def run_distributed(body: Callable[[Any, DistContext], None], config: Any) -> None:
    """Run ``body(config, context)`` as one rank of the job; any failure ends every rank."""
    context = init_distributed(config.dist_host)
    with stop_all_on_error(context):
        body(config, context)
    shutdown()


def finite_on_every_rank(loss: torch.Tensor, model: torch.nn.Module) -> tuple[bool, torch.Tensor]:
    """(whether the loss and the gradient norm are finite on every rank, this rank's gradient
    norm): a step is skipped by all ranks or by none."""
    grad_norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    bad = (~torch.isfinite(grad_norm) | ~torch.isfinite(loss).all()).float()
    return all_reduce_sum(bad[None]).item() == 0, grad_norm
