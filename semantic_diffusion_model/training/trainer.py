"""One training process: model, EMA, optimiser and data; ``Trainer.step(i)`` does optimiser step i.

The formulation object (``formulations``, chosen by --formulation) draws each image's noise level
(a ddpm timestep, an EDM sigma, a flow time), wraps the network and computes the loss. Every random
draw of a step comes from (seed, step, rank), so a resumed run repeats an uninterrupted one.
"""
from __future__ import annotations

import contextlib

import torch

from echo_from_noise.cli import config_to_dict
from ..config import DiffusionConfig, TrainConfig, sub_config
from ..formulations import formulation_of
from ..network.unet import SPADEUNet
from .data import PairData, batch_indices, one_hot, step_seed
from .distributed import DistContext, finite_on_every_rank
from .latents import LatentData
from .ema import EMA
from .logger import ProgressLog
from .resumable import Resumable


class Trainer:
    """Model, EMA, optimiser and data of one process; ``step(i)`` does optimiser step i."""

    def __init__(self, config: TrainConfig, ctx: DistContext, data: PairData | LatentData,
                 state: dict | None, space):
        """``data``: the pairs as the network sees them, in ``space`` (a space.pixel.PixelSpace or
        space.latent.LatentSpace: the network's part of ``config``, the checkpoint's record)."""
        self.config, self.ctx, self.data, self.space = config, ctx, data, space
        self.model_config = space.network_config(config)
        self.diffusion_config = sub_config(DiffusionConfig, config)
        self.formulation = formulation_of(self.diffusion_config, config.learn_sigma)
        device = ctx.device
        self.resumable = Resumable(ctx, config.seed, config.precision, benchmark=True)
        self.model = SPADEUNet(self.model_config).to(device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.ema = EMA(self.model, config.ema_rate, config.ema_warmup)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay,
                                           fused=device.type == "cuda")
        self.start_step = 0
        if state is not None:
            self.ema.load_state_dict(state["ema"])
            self.resumable.restore(state, self.model, self.optimizer)
            self.start_step = int(state["step"])
        net = self.formulation.network(self.model)
        self.net = self.resumable.data_parallel(torch.compile(net) if config.compile else net)

    def lr_at(self, step: int) -> float:
        if self.config.lr_schedule == "constant":
            return self.config.lr
        return self.config.lr * max(0.0, 1.0 - step / self.config.lr_anneal_steps)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's batch at this step (images in [-1, 1], one-hot maps), flipped and with
        label dropout, all decided by (seed, step, rank)."""
        c, ctx = self.config, self.ctx
        index = torch.from_numpy(batch_indices(len(self.data), c.batch_size, c.seed, step,
                                               ctx.rank, ctx.world_size))
        maps = self.data.maps[index]
        gen = torch.Generator().manual_seed(step_seed(c.seed, step, ctx.rank, stream=1))
        flip = torch.rand(c.batch_size, generator=gen) < 0.5
        keep = torch.rand(c.batch_size, generator=gen) >= c.label_dropout
        flip = flip & c.random_flip
        maps = torch.where(flip[:, None, None], maps.flip(-1), maps)
        device = ctx.device
        x0 = self.data.clean_inputs(index, flip, device, self.model_config.in_channels)
        y = one_hot(maps.to(device, non_blocking=True), c.num_classes)
        y = y * keep.to(device)[:, None, None, None]  # the all-zero map is the null label
        if c.channels_last:
            x0, y = x0.contiguous(memory_format=torch.channels_last), y.contiguous(memory_format=torch.channels_last)
        return x0, y

    def step(self, step: int, log: ProgressLog) -> bool:
        """One optimiser step; False if it was skipped for a non-finite loss or gradient."""
        c, device = self.config, self.ctx.device
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(step_seed(c.seed, step, self.ctx.rank, stream=2))  # dropout layers
        gen = torch.Generator(device).manual_seed(step_seed(c.seed, step, self.ctx.rank))
        x0, y = self.batch(step)
        level, quarter = self.noise_levels(gen)
        noise = torch.randn(x0.shape, generator=gen, device=device)
        micro = c.microbatch or c.batch_size
        terms_all = []
        for start in range(0, c.batch_size, micro):
            part = slice(start, start + micro)
            last = start + micro >= c.batch_size
            sync = (contextlib.nullcontext() if last or not self.ctx.distributed else self.net.no_sync())
            with sync, self.resumable.autocast():
                terms = self.losses(x0[part], level[part], y[part], noise[part])
                loss = terms["loss"].sum() / c.batch_size
            self.resumable.scaler.scale(loss).backward()
            terms_all.append(terms)
        terms = {k: torch.cat([p[k] for p in terms_all]) for k in terms_all[0]}
        self.resumable.scaler.unscale_(self.optimizer)
        finite, grad_norm = finite_on_every_rank(terms["loss"], self.model)
        if finite:
            self.resumable.scaler.step(self.optimizer)
        self.resumable.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if finite:
            self.ema.update(self.model, step)
        log.add_step(terms, quarter, grad_norm, finite, c.batch_size * self.ctx.world_size)
        return finite

    def noise_levels(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(noise level of each image, the quarter 0..3 of the training distribution it fell in,
        for the log)."""
        level, quantile = self.formulation.draw(self.config.batch_size, gen, self.ctx.device)
        return level, (quantile * 4).long().clamp(0, 3)

    def losses(self, x0: torch.Tensor, level: torch.Tensor, y: torch.Tensor,
               noise: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.formulation.losses(self.net, x0, level, y, noise)

    def checkpoint_state(self, step: int) -> dict:
        return {"step": step, "config": config_to_dict(self.config),
                "model_config": config_to_dict(self.model_config),
                "diffusion_config": config_to_dict(self.diffusion_config),
                "label_dropout": self.config.label_dropout, "autoencoder": self.space.record,
                "ema": self.ema.state_dict(), **self.resumable.state(self.model, self.optimizer)}
