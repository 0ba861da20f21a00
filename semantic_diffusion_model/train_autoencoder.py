r"""Train the follow-up paper's one-channel Gamma-VAE on the real images of a step-2 folder.

The autoencoder (MONAI AutoencoderKL encoder/decoder, one latent channel, Gamma posterior and
prior Gamma(3.75, rate 10.8)) is the one latent diffusion trains on (semantic_diffusion_model.train
--autoencoder OUT/autoencoder.pt). Images are LABELS/<VIEW>/images/<split>/ in [0, 1]; the sector
maps only restrict the KL term to the scan sector. Each epoch ends with the PSNR and SSIM of the
reconstructions of the validation split (decoder of the latent mean); the end writes
reconstructions.png and evaluation.json (validation and test split). Runs as one process, under
`mpiexec -n N` or `torchrun --nproc_per_node N` (--batch-size per process). Re-running the same
command continues from the newest checkpoint in --out-dir, exactly as if it had not been stopped.

  mpiexec -n 8 python -m semantic_diffusion_model.train_autoencoder --data-dir LABELS \
      --out-dir runs/gamma_vae_l64 --image-size 256 --channels 64 128 192
"""
from __future__ import annotations

import math
import time
from functools import partial

import torch
from tqdm import tqdm

from echo_from_noise import storage
from echo_from_noise.cli import program
from echo_from_noise.contract import SECTOR_CLASSES, SPLITS
from echo_from_noise.errors import UserError
from .autoencoder.checkpoint import SERIES, STABLE_NAME, read_checkpoint, save_checkpoint
from .autoencoder.checks import check_compatible, check_options
from .autoencoder.config import AutoencoderTrainConfig
from .autoencoder.epoch_log import EpochLog
from .autoencoder.evaluation import EVALUATION_FILE, evaluate, write_evaluation
from .autoencoder.loss import PerceptualFeatures
from .autoencoder.trainer import AutoencoderTrainer
from .training.data import PairData
from .training.distributed import DistContext, barrier, run_distributed
from .training.run_folder import prepare_run_folder, write_run_config

def train(config: AutoencoderTrainConfig, ctx: DistContext) -> None:
    # every check (options, checkpoint, perceptual network, data) before anything is created
    check_options(config)
    path = SERIES.latest(config.out_dir)
    state = read_checkpoint(path) if path else None
    if state is not None:
        check_compatible(state, path, config)
    finished = state is not None and int(state["epoch"]) >= config.epochs
    if finished and storage.exists(storage.join(config.out_dir, EVALUATION_FILE)):
        if ctx.is_main:
            print(f"{path}: already at epoch {state['epoch']} >= {config.epochs}; nothing to do")
        return
    perceptual = PerceptualFeatures(config.perceptual_network) if config.perceptual_network else None
    splits = {split: PairData.load(config.data_dir, config.views, split, SECTOR_CLASSES,
                                   config.image_size, config.num_workers, progress=ctx.is_main)
              for split in SPLITS}
    if ctx.is_main:
        prepare_run_folder(config.out_dir)
    trainer = AutoencoderTrainer(config, ctx, splits["training"], state, perceptual)
    del state
    start, total, spe = trainer.start_epoch, config.epochs, trainer.steps_per_epoch
    if ctx.is_main:
        facts = {"world_size": ctx.world_size, "global_batch": config.batch_size * ctx.world_size,
                 "steps_per_epoch": spe, "latent_size": config.latent_size,
                 **{f"{split}_images": len(data) for split, data in splits.items()},
                 "resumed_from": path, "torch": torch.__version__, "device": str(ctx.device)}
        write_run_config(config.out_dir, config, facts)
        print(f"training the Gamma-VAE (latent 1 x {config.latent_size} x {config.latent_size}, "
              f"{sum(p.numel() for p in trainer.model.parameters()) / 1e6:.2f} M parameters) on "
              f"{len(splits['training'])} images ({', '.join(config.views)}), {ctx.world_size} "
              f"process(es) x batch {config.batch_size} on {ctx.device}, epochs {start} -> {total} "
              f"({spe} steps each)" + (f", resumed from {path}" if path else ""))
    log = EpochLog(config.out_dir, start) if ctx.is_main else None
    with tqdm(total=total * spe, initial=start * spe, desc="training", unit="step",
              disable=not ctx.is_main) as bar:
        for epoch in range(start + 1, total + 1):
            clock = time.perf_counter()
            for step in range((epoch - 1) * spe, epoch * spe):
                trainer.step(step)
                bar.update(1)
            terms = trainer.epoch_terms()
            seconds = time.perf_counter() - clock
            if terms["skipped_steps"] == spe:
                raise UserError(f"training diverged: every step of epoch {epoch} had a non-finite "
                                f"loss or gradient; the checkpoints in {config.out_dir} are kept; "
                                "try a lower --lr or --precision fp32")
            if ctx.is_main:
                metrics = {"psnr": float("nan"), "ssim": float("nan")}
                if epoch % config.eval_interval == 0 or epoch == total:
                    metrics = evaluate(trainer.model, splits["validation"], config.batch_size)
                log.write({"epoch": epoch, "step": epoch * spe, **terms, "val_psnr": metrics["psnr"],
                           "val_ssim": metrics["ssim"], "train_seconds": round(seconds, 3)})
                bar.write(f"epoch {epoch}/{total}: loss {terms['loss']:.4f} (recon "
                          f"{terms['recon']:.5f}, kl {terms['kl']:.3f}, latent {terms['latent']:.5f}"
                          + (f", perceptual {terms['perceptual']:.4f}" if perceptual else "")
                          + ")" + (f", val PSNR {metrics['psnr']:.2f} dB SSIM {metrics['ssim']:.4f}"
                                   if math.isfinite(metrics["psnr"]) else "") + f", {seconds:.1f} s")
            if epoch % config.save_interval == 0 or epoch == total:
                if ctx.is_main:
                    state = trainer.checkpoint_state(epoch)
                    save_checkpoint(storage.join(config.out_dir, SERIES.name(epoch)), state)
                    save_checkpoint(storage.join(config.out_dir, STABLE_NAME), state)
                    SERIES.prune(config.out_dir, config.keep_checkpoints)
                barrier()
    if ctx.is_main:
        if start >= total:  # a finished run killed before its evaluation: its stable copy again
            save_checkpoint(storage.join(config.out_dir, STABLE_NAME), trainer.checkpoint_state(start))
        write_evaluation(config.out_dir, trainer.model, splits, config.batch_size,
                         max(start, total))
    barrier()


CONFIG = AutoencoderTrainConfig  # (what the pipeline checks its options with)
main = program(CONFIG, partial(run_distributed, train), __doc__)


if __name__ == "__main__":
    main()
