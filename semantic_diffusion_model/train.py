r"""Train the semantic diffusion model (SPADE UNet) on step-2 pairs of sector maps and real images.

Runs as one process, under `mpiexec -n N` or under `torchrun --nproc_per_node N` (one process per
GPU; --batch-size is per process). Checkpoints, config.json, progress.csv and TensorBoard events
go to --out-dir. Re-running the same command continues from the newest checkpoint there
(--resume auto), exactly as if it had not been interrupted. Example (published 2CH model, 8 GPUs):

  mpiexec -n 8 python -m semantic_diffusion_model.train --data-dir LABELS --views 2CH_ED \
      --out-dir runs/sdm_2ch --image-size 256 --batch-size 12 --lr-anneal-steps 50000

--formulation edm (or vp, ve) trains the same network with EDM's preconditioning and loss instead
of the published DDPM process (sample it with heun, euler or dpm-solver++). --model-preset
edm-adm sets the follow-up paper's ADM backbone (192 channels, multipliers 1 2 3 4, 3 blocks per
level, attention at 32/16/8, dropout 0.1); options given explicitly override a preset:

  torchrun --nproc_per_node 8 -m semantic_diffusion_model.train --data-dir LABELS \
      --views 2CH_ED --out-dir runs/edm_2ch --formulation edm --model-preset edm-adm
"""
from __future__ import annotations

import argparse
import os

import torch
from tqdm import tqdm

from echo_from_noise import storage
from echo_from_noise.cli import parse_config, run_program, with_defaults
from echo_from_noise.errors import UserError
from echo_from_noise.files import check_still_there
from .autoencoder.checkpoint import load_autoencoder, weights_digest
from .config import MODEL_PRESETS, DiffusionConfig, ModelConfig, TrainConfig, sub_config
from .training.checkpoint import SERIES, check_compatible, load_checkpoint, save_checkpoint
from .training.data import PairData
from .training.distributed import DistContext, barrier, run_distributed
from .training.latents import latent_pairs
from .training.logger import ProgressLog
from .training.run_folder import prepare_run_folder, write_run_config
from .training.trainer import Trainer


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
    sub_config(DiffusionConfig, config).check()
    if not config.autoencoder:  # (a latent model's side is the autoencoder's: checked once read)
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
        return SERIES.latest(config.out_dir)
    if config.resume == "none":
        existing = SERIES.latest(config.out_dir)
        if existing:
            raise UserError(f"{config.out_dir}: holds checkpoints already ({existing}); use "
                            "--resume auto to continue them or choose another --out-dir")
        return None
    return config.resume


def latent_space(config: TrainConfig, ctx: DistContext):
    """The Gamma-VAE of --autoencoder, with the network's size set to its latent side -> (the
    autoencoder on this process's device, its description for the checkpoint)."""
    autoencoder = load_autoencoder(config.autoencoder, ctx.device)
    config.image_size, config.in_channels = autoencoder.config.latent_size, 1
    path = config.autoencoder if storage.is_url(config.autoencoder) else os.path.abspath(config.autoencoder)
    return autoencoder, {"path": path, "digest": weights_digest(autoencoder),
                         "image_size": autoencoder.config.image_size,
                         "latent_size": autoencoder.config.latent_size}


def check_same_autoencoder(state: dict, path: str, autoencoder: dict | None) -> None:
    saved = (state.get("autoencoder") or {}).get("digest")
    if saved != (autoencoder or {}).get("digest"):
        raise UserError(f"{path}: checkpoint was trained "
                        f"{'on the latents of another autoencoder' if saved else 'on pixels'}; "
                        "give the same --autoencoder or choose another --out-dir")


def train(config: TrainConfig, ctx: DistContext) -> None:
    # every check (options, checkpoint, data) comes before anything is created in --out-dir
    autoencoder, latent = latent_space(config, ctx) if config.autoencoder else (None, None)
    check_options(config)
    if autoencoder is not None:
        check_network(config)  # at the latent side
    model_config, diffusion_config = sub_config(ModelConfig, config), sub_config(DiffusionConfig, config)
    path = resume_path(config)
    state = load_checkpoint(path) if path else None
    if state is not None:
        check_compatible(state, path, model_config, diffusion_config)
        check_same_autoencoder(state, path, latent)
        if "ema_warmup" not in state.get("config", {}):  # begun before EMA warm-up existed
            config.ema_warmup = False
    total = config.total_steps
    if state is not None and int(state["step"]) >= total:
        if ctx.is_main:
            print(f"{path}: already at step {state['step']} >= {total} steps; nothing to do")
        return
    data = PairData.load(config.data_dir, config.views, config.split, config.num_classes,
                         latent["image_size"] if latent else config.image_size,
                         config.num_workers, progress=ctx.is_main)
    if autoencoder is not None:  # encoded once, kept in memory
        saved = (state or {}).get("autoencoder")
        data = latent_pairs(data, autoencoder, config.sigma_data, saved, progress=ctx.is_main)
        latent |= data.standardisation
        del autoencoder
    if ctx.is_main:
        prepare_run_folder(config.out_dir, ".pt")
    trainer = Trainer(config, ctx, data, state, latent)
    del state
    step = trainer.start_step
    if ctx.is_main:
        facts = {"world_size": ctx.world_size, "global_batch": config.batch_size * ctx.world_size,
                 "pairs": len(data), "data_std": round(data.data_std, 4),
                 "resumed_from": path, "torch": torch.__version__,
                 "device": str(ctx.device)}
        write_run_config(config.out_dir, config, facts)
        space = f"latents ({config.image_size} px) of {latent['path']}" if latent else "pixels"
        print(f"training the {config.formulation} formulation on the {space} of {len(data)} pairs "
              f"({', '.join(config.views)}, {config.split}), "
              f"{sum(p.numel() for p in trainer.model.parameters()) / 1e6:.1f} M parameters, "
              f"{ctx.world_size} process(es) x batch {config.batch_size} on {ctx.device}, "
              f"steps {step} -> {total}" + (f", resumed from {path}" if path else ""))
    log = ProgressLog(config.out_dir, ctx.is_main, step, ctx.device, config.tensorboard)
    nonfinite, finite_steps = 0, 0
    # the context closes the bar (ending its line) before any error is printed
    with tqdm(total=total, initial=step, desc="training", unit="step", disable=not ctx.is_main) as bar:
        while step < total:
            finite = trainer.step(step, log)
            nonfinite = 0 if finite else nonfinite + 1
            finite_steps += finite
            step += 1
            bar.update(1)
            if nonfinite >= config.max_nonfinite_steps:
                raise UserError(f"training diverged: {nonfinite} consecutive steps with a non-finite "
                                f"loss or gradient (up to step {step}); the checkpoints in "
                                f"{config.out_dir} are kept; try a lower --lr or --precision bf16/fp32")
            if step % config.log_interval == 0 or step % config.save_interval == 0 or step == total:
                check_still_there(config.out_dir, "training")
            if step % config.log_interval == 0 or step == total:
                row = log.write(step, trainer.lr_at(step - 1))
                if row:
                    bar.set_postfix(loss=f"{row['loss']:.4f}", mse=f"{row['mse']:.4f}")
            if step % config.save_interval == 0 or step == total:
                if ctx.is_main:
                    save_checkpoint(storage.join(config.out_dir, SERIES.name(step)),
                                    trainer.checkpoint_state(step))
                    SERIES.prune(config.out_dir, config.keep_checkpoints)
                barrier()
    log.close()
    if finite_steps == 0:  # fewer steps than --max-nonfinite-steps, every one of them skipped
        raise UserError(f"training never produced a finite loss: all {total - trainer.start_step} "
                        f"steps were skipped; the checkpoints in {config.out_dir} hold no "
                        "training; check the formulation's parameters or try a lower --lr")
    if ctx.is_main:
        print(f"finished {total} steps; checkpoints in {config.out_dir}")


# read before the full parser: the preset decides the defaults of the network options
PRESET_OPTION = argparse.ArgumentParser(add_help=False)
PRESET_OPTION.add_argument("--model-preset", default="", choices=("", *MODEL_PRESETS))


def config_class(argv: list[str] | None) -> type[TrainConfig]:
    """TrainConfig, with the network defaults of --model-preset when one is given."""
    preset = PRESET_OPTION.parse_known_args(argv)[0].model_preset
    return with_defaults(TrainConfig, model_preset=preset, **MODEL_PRESETS[preset]) if preset else TrainConfig


CONFIG = config_class  # argv -> the configuration class (--model-preset sets defaults)


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run_distributed(train, parse_config(config_class(argv), argv, __doc__)))


if __name__ == "__main__":
    main()
