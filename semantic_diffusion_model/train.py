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
from functools import partial

import torch
from tqdm import tqdm

from echo_from_noise import storage
from echo_from_noise.cli import program, with_defaults
from echo_from_noise.errors import UserError
from echo_from_noise.files import check_still_there
from .config import MODEL_PRESETS, DiffusionConfig, TrainConfig, sub_config
from .space.choice import training_space
from .training.checkpoint import SERIES, check_compatible, load_checkpoint, save_checkpoint
from .training.checks import check_network, check_options, check_same_space, resume_path
from .training.data import PairData
from .training.distributed import DistContext, barrier, run_distributed
from .training.logger import ProgressLog
from .training.run_folder import prepare_run_folder, write_run_config
from .training.trainer import Trainer


def train(config: TrainConfig, ctx: DistContext) -> None:
    # every check (options, checkpoint, data) comes before anything is created in --out-dir
    space = training_space(config, ctx.device, getattr(config, "explicit", ()))
    check_options(config)
    model_config, diffusion_config = space.network_config(config), sub_config(DiffusionConfig, config)
    check_network(model_config)  # at the side the network works at
    path = resume_path(config)
    state = load_checkpoint(path) if path else None
    if state is not None:
        check_compatible(state, path, model_config, diffusion_config)
        check_same_space(state, path, space.record)
        if "ema_warmup" not in state.get("config", {}):  # begun before EMA warm-up existed
            config.ema_warmup = False
    total = config.total_steps
    if state is not None and int(state["step"]) >= total:
        if ctx.is_main:
            print(f"{path}: already at step {state['step']} >= {total} steps; nothing to do")
        return
    data = PairData.load(config.data_dir, config.views, config.split, config.num_classes,
                         space.image_size, config.num_workers, progress=ctx.is_main)
    # latents: encoded once, kept in memory, standardised as the resumed checkpoint was
    data = space.training_data(data, config.sigma_data, (state or {}).get("autoencoder"),
                               progress=ctx.is_main)
    if ctx.is_main:
        prepare_run_folder(config.out_dir, ".pt")
    trainer = Trainer(config, ctx, data, state, space)
    del state
    step = trainer.start_step
    if ctx.is_main:
        facts = {"world_size": ctx.world_size, "global_batch": config.batch_size * ctx.world_size,
                 "network_size": space.network_size, "pairs": len(data),
                 "data_std": round(data.data_std, 4),
                 "resumed_from": path, "torch": torch.__version__,
                 "device": str(ctx.device)}
        write_run_config(config.out_dir, config, facts)
        print(f"training the {config.formulation} formulation on the {space.description} of "
              f"{len(data)} pairs "
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
main = program(CONFIG, partial(run_distributed, train), __doc__, explicit=True)  # --image-size given?


if __name__ == "__main__":
    main()
