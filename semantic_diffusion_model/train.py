r"""Train the semantic diffusion model (SPADE UNet) on step-2 pairs of sector maps and real images.

Runs as one process, under `mpiexec -n N` or under `torchrun --nproc_per_node N` (one process per
GPU; --batch-size is per process). Checkpoints, config.json, progress.csv and TensorBoard events
go to --out-dir. Re-running the same command continues from the newest checkpoint there
(--resume auto), exactly as if it had not been interrupted. Example (published 2CH model, 8 GPUs):

  mpiexec -n 8 python -m semantic_diffusion_model.train --data-dir LABELS --views 2CH_ED \
      --out-dir runs/sdm_2ch --image-size 256 --batch-size 12 --lr-anneal-steps 50000
"""
from __future__ import annotations

import contextlib
import json

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from echo_from_noise import storage
from echo_from_noise.cli import config_to_dict, parse_config, run_program
from echo_from_noise.errors import UserError
from echo_from_noise.files import remove_temporaries
from .checkpoint import (checkpoint_name, configs_of, latest_checkpoint, load_checkpoint,
                         prune_checkpoints, rng_states, save_checkpoint, set_rng_states)
from .config import DiffusionConfig, ModelConfig, TrainConfig, sub_config
from .data import PairData, batch_indices, one_hot, step_seed, to_model_range
from .diffusion import create_diffusion
from .distributed import DistContext, all_reduce_sum, barrier, run_distributed
from .ema import EMA
from echo_from_noise.device import autocast_dtype
from .logger import ProgressLog
from .unet import SPADEUNet


def check_options(config: TrainConfig) -> None:
    if config.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {config.batch_size}")
    if config.microbatch < 0 or config.microbatch > config.batch_size:
        raise UserError(f"--microbatch must be 0..{config.batch_size}, got {config.microbatch}")
    if not 0.0 <= config.label_dropout < 1.0:
        raise UserError(f"--label-dropout must be in [0, 1), got {config.label_dropout}")
    if config.lr_anneal_steps < 1 or config.max_steps < 0:
        raise UserError("--lr-anneal-steps must be >= 1 and --max-steps >= 0")
    if config.save_interval < 1 or config.log_interval < 1:
        raise UserError("--save-interval and --log-interval must be >= 1")
    if config.model_channels % config.norm_groups:
        raise UserError(f"--model-channels {config.model_channels} is not divisible by "
                        f"--norm-groups {config.norm_groups}")
    check_network(config)


def check_network(config: ModelConfig) -> None:
    """What SPADEUNet's constructor would reject, as option errors."""
    mult = config.resolved_channel_mult()  # UserError for a size without published multipliers
    factor = 2 ** (len(mult) - 1)  # each level but the last halves the feature maps
    if config.image_size % factor:
        below, above = config.image_size // factor * factor, (config.image_size // factor + 1) * factor
        sizes = f"{below} or {above}" if below else str(above)
        raise UserError(f"--image-size {config.image_size} must be divisible by {factor} (2^"
                        f"{len(mult) - 1} for --channel-mult {' '.join(map(str, mult))}), e.g. {sizes}")
    if config.num_head_channels < 1:
        raise UserError(f"--num-head-channels must be >= 1, got {config.num_head_channels}")
    sides = [config.image_size // 2 ** level for level in range(len(mult))]
    # attention at the chosen sides and always in the middle block (the last level's channels)
    channels = {m * config.model_channels for m, side in zip(mult, sides)
                if side in config.attention_resolutions} | {mult[-1] * config.model_channels}
    if any(c % config.num_head_channels for c in channels):
        raise UserError(f"--num-head-channels {config.num_head_channels} does not divide the "
                        f"channels of the attention layers ({', '.join(map(str, sorted(channels)))})")


def resume_path(config: TrainConfig) -> str | None:
    """The checkpoint to continue from, following --resume (see its help)."""
    if config.resume == "auto":
        return latest_checkpoint(config.out_dir)
    if config.resume == "none":
        existing = latest_checkpoint(config.out_dir)
        if existing:
            raise UserError(f"{config.out_dir}: holds checkpoints already ({existing}); use "
                            "--resume auto to continue them or choose another --out-dir")
        return None
    return config.resume


def check_compatible(state: dict, path: str, model_config: ModelConfig,
                     diffusion_config: DiffusionConfig) -> None:
    """UserError naming the differences if a checkpoint was made for another configuration."""
    saved_model, saved_diffusion = configs_of(state, path)
    current = {**config_to_dict(model_config), **config_to_dict(diffusion_config)}
    saved = {**config_to_dict(saved_model), **config_to_dict(saved_diffusion)}
    differences = [f"{k} {saved[k]} != {current[k]}" for k in current
                   if k != "grad_checkpoint" and saved.get(k) != current[k]]
    if differences:
        raise UserError(f"{path}: checkpoint was made for another configuration "
                        f"({', '.join(differences)})")


class Trainer:
    """Model, EMA, optimiser and data of one process; ``step(i)`` does optimiser step i."""

    def __init__(self, config: TrainConfig, ctx: DistContext, data: PairData, state: dict | None):
        self.config, self.ctx, self.data = config, ctx, data
        self.model_config = sub_config(ModelConfig, config)
        self.diffusion = create_diffusion(sub_config(DiffusionConfig, config), config.learn_sigma)
        device = ctx.device
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.model = SPADEUNet(self.model_config).to(device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.ema = EMA(self.model, config.ema_rate)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay,
                                           fused=device.type == "cuda")
        self.amp_dtype = autocast_dtype(config.precision, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.start_step = 0
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.ema.load_state_dict(state["ema"])
            self.optimizer.load_state_dict(state["optimizer"])
            if state.get("grad_scaler"):
                self.scaler.load_state_dict(state["grad_scaler"])
            set_rng_states(state["rng"])
            self.start_step = int(state["step"])
        net = torch.compile(self.model) if config.compile else self.model
        self.net = (DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
                    if ctx.distributed else net)

    def lr_at(self, step: int) -> float:
        return self.config.lr * max(0.0, 1.0 - step / self.config.lr_anneal_steps)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's batch at this step (images in [-1, 1], one-hot maps), flipped and with
        label dropout, all decided by (seed, step, rank)."""
        c, ctx = self.config, self.ctx
        index = torch.from_numpy(batch_indices(len(self.data), c.batch_size, c.seed, step,
                                               ctx.rank, ctx.world_size))
        maps, images = self.data.maps[index], self.data.images[index]
        gen = torch.Generator().manual_seed(step_seed(c.seed, step, ctx.rank, stream=1))
        flip = torch.rand(c.batch_size, generator=gen) < 0.5
        keep = torch.rand(c.batch_size, generator=gen) >= c.label_dropout
        if c.random_flip:
            maps = torch.where(flip[:, None, None], maps.flip(-1), maps)
            images = torch.where(flip[:, None, None], images.flip(-1), images)
        device = ctx.device
        x0 = to_model_range(images.to(device, non_blocking=True), c.in_channels)
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
        t = torch.randint(0, self.diffusion.num_timesteps, (c.batch_size,), generator=gen, device=device)
        noise = torch.randn(x0.shape, generator=gen, device=device)
        micro = c.microbatch or c.batch_size
        terms_all = []
        for start in range(0, c.batch_size, micro):
            part = slice(start, start + micro)
            last = start + micro >= c.batch_size
            sync = (contextlib.nullcontext() if last or not self.ctx.distributed else self.net.no_sync())
            with sync, torch.autocast(device.type, dtype=self.amp_dtype or torch.float32,
                                      enabled=self.amp_dtype is not None):
                terms = self.diffusion.training_losses(self.net, x0[part], t[part], y[part],
                                                       noise=noise[part], vb_weight=c.vb_weight)
                loss = terms["loss"].sum() / c.batch_size
            self.scaler.scale(loss).backward()
            terms_all.append(terms)
        terms = {k: torch.cat([p[k] for p in terms_all]) for k in terms_all[0]}
        self.scaler.unscale_(self.optimizer)
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.get_total_norm(grads)
        bad = (~torch.isfinite(grad_norm) | ~torch.isfinite(terms["loss"]).all()).float()
        finite = all_reduce_sum(bad[None]).item() == 0  # the same decision on every rank
        if finite:
            self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if finite:
            self.ema.update(self.model)
        log.add_step(terms, t, grad_norm, finite, c.batch_size * self.ctx.world_size)
        return finite

    def checkpoint_state(self, step: int) -> dict:
        return {"step": step, "config": config_to_dict(self.config),
                "model_config": config_to_dict(self.model_config),
                "diffusion_config": config_to_dict(sub_config(DiffusionConfig, self.config)),
                "label_dropout": self.config.label_dropout,
                "model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "grad_scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
                "rng": rng_states()}


def train(config: TrainConfig, ctx: DistContext) -> None:
    # every check (options, checkpoint, data) comes before anything is created in --out-dir
    check_options(config)
    model_config, diffusion_config = sub_config(ModelConfig, config), sub_config(DiffusionConfig, config)
    path = resume_path(config)
    state = load_checkpoint(path) if path else None
    if state is not None:
        check_compatible(state, path, model_config, diffusion_config)
    total = config.total_steps
    if state is not None and int(state["step"]) >= total:
        if ctx.is_main:
            print(f"{path}: already at step {state['step']} >= {total} steps; nothing to do")
        return
    data = PairData.load(config.data_dir, config.views, config.split, config.num_classes,
                         config.image_size, config.num_workers, progress=ctx.is_main)
    if ctx.is_main:
        storage.ensure_writable_folder(config.out_dir)
        if not storage.is_url(config.out_dir):  # a checkpoint half-written when a run was killed
            remove_temporaries(config.out_dir, ".pt")
    trainer = Trainer(config, ctx, data, state)
    del state
    step = trainer.start_step
    if ctx.is_main:
        facts = {"world_size": ctx.world_size, "global_batch": config.batch_size * ctx.world_size,
                 "pairs": len(data), "resumed_from": path, "torch": torch.__version__,
                 "device": str(ctx.device)}
        storage.write_bytes(storage.join(config.out_dir, "config.json"),
                            (json.dumps({**config_to_dict(config), **facts}, indent=2) + "\n").encode())
        print(f"training on {len(data)} pairs ({', '.join(config.views)}, {config.split}), "
              f"{sum(p.numel() for p in trainer.model.parameters()) / 1e6:.1f} M parameters, "
              f"{ctx.world_size} process(es) x batch {config.batch_size} on {ctx.device}, "
              f"steps {step} -> {total}" + (f", resumed from {path}" if path else ""))
    log = ProgressLog(config.out_dir, ctx.is_main, step, trainer.diffusion.num_timesteps,
                      ctx.device, config.tensorboard)
    nonfinite = 0
    # the context closes the bar (ending its line) before any error is printed
    with tqdm(total=total, initial=step, desc="training", unit="step", disable=not ctx.is_main) as bar:
        while step < total:
            finite = trainer.step(step, log)
            nonfinite = 0 if finite else nonfinite + 1
            step += 1
            bar.update(1)
            if nonfinite >= config.max_nonfinite_steps:
                raise UserError(f"training diverged: {nonfinite} consecutive steps with a non-finite "
                                f"loss or gradient (up to step {step}); the checkpoints in "
                                f"{config.out_dir} are kept; try a lower --lr or --precision bf16/fp32")
            if step % config.log_interval == 0 or step == total:
                row = log.write(step, trainer.lr_at(step - 1))
                if row:
                    bar.set_postfix(loss=f"{row['loss']:.4f}", mse=f"{row['mse']:.4f}")
            if step % config.save_interval == 0 or step == total:
                if ctx.is_main:
                    save_checkpoint(storage.join(config.out_dir, checkpoint_name(step)),
                                    trainer.checkpoint_state(step))
                    prune_checkpoints(config.out_dir, config.keep_checkpoints)
                barrier()
    log.close()
    if ctx.is_main:
        print(f"finished {total} steps; checkpoints in {config.out_dir}")


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run_distributed(train, parse_config(TrainConfig, argv, __doc__)))


if __name__ == "__main__":
    main()
