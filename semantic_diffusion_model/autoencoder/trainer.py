"""One Gamma-VAE training process: model, optimiser and data; ``step(i)`` does optimiser step i.

Each epoch is every training image once over all ranks; every random draw of a step (the batch,
its flips, the latent draw) comes from (seed, step, rank), so a resumed run repeats an
uninterrupted one.
"""
from __future__ import annotations

import math

import torch

from echo_from_noise.cli import config_to_dict
from ..config import sub_config
from ..training.data import PairData, batch_indices, step_seed
from ..training.distributed import DistContext, all_reduce_sum, finite_on_every_rank
from ..training.resumable import Resumable
from .checkpoint import weights_digest
from .config import AutoencoderConfig, AutoencoderTrainConfig
from .evaluation import to_unit
from .loss import GammaVAELoss, PerceptualFeatures
from .network import GammaVAE

TERMS = ("loss", "recon", "kl", "latent", "perceptual")  # the loss terms, logged per epoch


class AutoencoderTrainer:
    """Model, optimiser and data of one process; ``step(i)`` does optimiser step i."""

    def __init__(self, config: AutoencoderTrainConfig, ctx: DistContext, data: PairData,
                 state: dict | None, perceptual: PerceptualFeatures | None):
        self.config, self.ctx, self.data = config, ctx, data
        device = ctx.device
        self.resumable = Resumable(ctx, config.seed, config.precision)
        self.model = GammaVAE(sub_config(AutoencoderConfig, config)).to(device)
        self.loss = GammaVAELoss(self.model.config, perceptual.to(device) if perceptual else None)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.start_epoch = 0
        if state is not None:
            self.resumable.restore(state, self.model, self.optimizer)
            self.start_epoch = int(state["epoch"])
        self.net = self.resumable.data_parallel(self.model)
        # one epoch: every training image once over all ranks (the last step reaches into the next)
        self.steps_per_epoch = math.ceil(len(data) / (config.batch_size * ctx.world_size))
        self.sums = torch.zeros(len(TERMS) + 2, dtype=torch.float64, device=device)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's images (N, 1, H, W) in [0, 1] and sector masks (N, H, W) at this step,
        flipped as (seed, step, rank) decide."""
        c, ctx = self.config, self.ctx
        index = torch.from_numpy(batch_indices(len(self.data), c.batch_size, c.seed, step,
                                               ctx.rank, ctx.world_size))
        images, maps = self.data.images[index], self.data.maps[index]
        if c.random_flip:
            gen = torch.Generator().manual_seed(step_seed(c.seed, step, ctx.rank, stream=1))
            flip = (torch.rand(c.batch_size, generator=gen) < 0.5)[:, None, None]
            images, maps = torch.where(flip, images.flip(-1), images), torch.where(flip, maps.flip(-1), maps)
        device = ctx.device
        return to_unit(images.to(device, non_blocking=True)), maps.to(device, non_blocking=True) != 0

    def step(self, step: int) -> None:
        c = self.config
        x, sector = self.batch(step)
        latent_draw = torch.Generator().manual_seed(step_seed(c.seed, step, self.ctx.rank, stream=2))
        with self.resumable.autocast():
            terms = self.loss(x, sector, self.net(x, generator=latent_draw))
        self.resumable.scaler.scale(terms["loss"]).backward()
        self.resumable.scaler.unscale_(self.optimizer)
        finite, _ = finite_on_every_rank(terms["loss"], self.model)
        if finite:
            self.resumable.scaler.step(self.optimizer)
            self.sums[:len(TERMS)] += torch.stack([terms[k].detach().double() for k in TERMS])
            self.sums[-2] += 1
        else:
            self.sums[-1] += 1
        self.resumable.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def epoch_terms(self) -> dict:
        """Mean of each term over this epoch's finite steps and ranks (every rank calls this)."""
        sums = all_reduce_sum(self.sums.clone()).tolist()
        self.sums.zero_()
        finite = sums[-2]
        means = {k: sums[i] / finite if finite else float("nan") for i, k in enumerate(TERMS)}
        return {**means, "skipped_steps": int(sums[-1] / self.ctx.world_size)}

    def checkpoint_state(self, epoch: int) -> dict:
        return {"epoch": epoch, "step": epoch * self.steps_per_epoch,
                "config": config_to_dict(self.config),
                "autoencoder_config": config_to_dict(self.model.config),
                **self.resumable.state(self.model, self.optimizer),
                "weights_digest": weights_digest(self.model)}
