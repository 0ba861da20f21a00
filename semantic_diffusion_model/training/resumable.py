"""What the diffusion trainer (training.trainer) and the Gamma-VAE trainer (train_autoencoder) set
up alike: the device's fast paths, the same initial weights on every rank, mixed precision with its
gradient scaler, the part of a checkpoint that continues a run (weights, optimiser, scaler, random
generators) and the data-parallel wrapper.
"""
from __future__ import annotations

import torch
from torch.nn.parallel import DistributedDataParallel

from echo_from_noise.device import autocast_dtype
from .distributed import DistContext
from .random_state import rng_states, seed_global_generators, set_rng_states


class Resumable:
    """Device settings, seeded generators, precision and gradient scaler of one training process.
    Create it before the network (it seeds the generators the initial weights are drawn from)."""

    def __init__(self, ctx: DistContext, seed: int, precision: str, benchmark: bool = False):
        self.ctx = ctx
        device = ctx.device
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            if benchmark:
                torch.backends.cudnn.benchmark = True
        seed_global_generators(seed)  # the same initial weights on every rank
        self.amp_dtype = autocast_dtype(precision, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)

    def autocast(self):
        """The mixed-precision context of a forward pass (none for fp32)."""
        return torch.autocast(self.ctx.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def restore(self, state: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Continue from a checkpoint: weights, optimiser, gradient scaler, random generators."""
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state.get("grad_scaler"):
            self.scaler.load_state_dict(state["grad_scaler"])
        set_rng_states(state["rng"])

    def state(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
        """The entries of a checkpoint ``restore`` reads."""
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "grad_scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
                "rng": rng_states()}

    def data_parallel(self, net: torch.nn.Module) -> torch.nn.Module:
        """``net`` wrapped for data-parallel training over the ranks (itself for one process)."""
        if not self.ctx.distributed:
            return net
        device = self.ctx.device
        return DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
