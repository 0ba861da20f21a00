"""Generate one synthetic echocardiogram per label map with a trained semantic diffusion model.

Reads a checkpoint of semantic_diffusion_model.train and the (augmented) sector maps of step 2, and
writes step 3 (DESIGN.md): OUT/<VIEW>/{samples,labels,labels_visible,combined}/<name>.png and,
per view, contact_sheet.png, summary.json and sample_config.json. Runs as one process, under
`mpiexec -n N` or `torchrun --nproc_per_node N` (the maps are split across the processes, each
generated exactly once). Each map's noise comes from (--seed, map name), so its image does not
depend on the batch size, the number of processes or restarts. Re-running the same command skips
finished maps: a killed job resumes where it stopped.

Samplers (--sampler, NFE = network evaluations per image):
  ddpm          published ancestral DDPM with the learned variance, all T = 1000 steps by default
                (NFE 1000); --steps N < T samples the respaced diffusion (NFE N)
  ddim          DDIM, --eta 0 deterministic (default 50 steps)
  dpm-solver++  DPM-Solver++(2M) (default 20 steps)
  heun          EDM Heun solver of the probability-flow ODE, rho 7 (default 18 steps = 35 NFE)

Examples (the paper trained one model per chamber on ED frames and used it for ED and ES maps):
  python -m semantic_diffusion_model.sample --checkpoint runs/sdm_2ch/checkpoint_0050000.pt \\
      --maps-dir LABELS --views 2CH_ED 2CH_ES --out-dir SAMPLES
  mpiexec -n 8 python -m semantic_diffusion_model.sample --checkpoint ... --maps-dir LABELS \\
      --views 4CH_ED 4CH_ES --out-dir SAMPLES --sampler dpm-solver++ --steps 20
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from data_preparation.cli import UserError, parse_config, run_program, save_config
from data_preparation.files import atomic_path, check_writable
from data_preparation.labels import SPLITS, VIEWS

from .checkpoint import load_checkpoint, load_model
from .data import one_hot, read_image, read_map
from .diffusion import get_named_beta_schedule
from .distributed import DistContext, all_reduce_sum, barrier, run_distributed
from .guidance import LabelConditionedDenoiser, effective_guidance_scale
from .sample_outputs import (is_done, remove_temporaries, to_uint8, write_contact_sheet,
                             write_outputs)
from .samplers import SAMPLER_NAMES, PerSampleNoise, Sampler
from .samplers.dpm_solver import SPACINGS
from .sampling_maps import MapItem, check_map, find_maps
from .precision import autocast_dtype

CONFIG_FILE = "sample_config.json"
SUMMARY_FILE = "summary.json"


@dataclass
class Config:
    checkpoint: str = field(default="", metadata={"help": "checkpoint written by semantic_diffusion_model.train (local path or gs:// / az:// URL)", "required": True})
    maps_dir: str = field(default="", metadata={"help": "label maps: a step-2 root (its <VIEW>_augmented/sector_annotations/<split> folders), one view's map folder with split subfolders, or a plain folder of map PNGs", "required": True})
    out_dir: str = field(default="", metadata={"help": "output root (step 3 layout: <VIEW>/samples, labels, labels_visible, combined)", "required": True})
    views: tuple[str, ...] = field(default=VIEWS, metadata={"help": "views to sample (maps of other views are left out)", "choices": VIEWS})
    splits: tuple[str, ...] = field(default=("training", "validation"), metadata={"help": "split subfolders to sample (the testing split stays real)", "choices": SPLITS})
    sampler: str = field(default="ddpm", metadata={"help": "sampling method (see above)", "choices": SAMPLER_NAMES})
    steps: int = field(default=0, metadata={"help": "sampler steps; 0 = the sampler's default (ddpm: all T steps, the published sampler; ddim 50; dpm-solver++ 20; heun 18)"})
    eta: float = field(default=0.0, metadata={"help": "DDIM noise scale (0 = deterministic DDIM, 1 = DDPM-like); ddim only"})
    dpm_spacing: str = field(default="logSNR", metadata={"help": "time steps of dpm-solver++: uniform in log-SNR, in t, or in sqrt(t)", "choices": SPACINGS})
    guidance_scale: float = field(default=1.0, metadata={"help": "classifier-free guidance scale s (eps = eps_null + s (eps_map - eps_null)); 1 = off (the paper); needs a model trained with --label-dropout > 0"})
    clip_denoised: bool = field(default=True, metadata={"help": "clip each prediction of the clean image to [-1, 1]"})
    batch_size: int = field(default=16, metadata={"help": "maps sampled together on each process"})
    seed: int = field(default=0, metadata={"help": "global seed; each map's noise is seeded by (seed, map name)"})
    precision: str = field(default="auto", metadata={"help": "network precision: auto = bf16 on GPUs that support it, else fp32", "choices": ("auto", "bf16", "fp16", "fp32")})
    num_samples: int = field(default=0, metadata={"help": "sample only the first N maps of the sorted set (0 = all)"})
    use_ema: bool = field(default=True, metadata={"help": "use the EMA weights of the checkpoint (else the raw weights)"})
    contact_sheet_rows: int = field(default=8, metadata={"help": "maps shown in each view's contact_sheet.png (0 = none)"})
    dist_host: str = field(default="", metadata={"help": "rendezvous address under mpiexec (default: rank 0's host name)"})


def check_options(config: Config) -> None:
    if config.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {config.batch_size}")
    if config.steps < 0 or config.num_samples < 0 or config.contact_sheet_rows < 0:
        raise UserError("--steps, --num-samples and --contact-sheet-rows must be >= 0")
    if config.guidance_scale < 0:
        raise UserError(f"--guidance-scale must be >= 0, got {config.guidance_scale}")


def view_dir(out_dir: Path, item: MapItem) -> Path:
    return out_dir / item.view if item.view else out_dir


def warn_other_chambers(maps: list[MapItem], trained_views: list[str]) -> None:
    """The paper samples ED and ES maps of a chamber with the model trained on that chamber's ED
    frames; maps of a chamber the model never saw are allowed, with a warning."""
    chambers = {v.split("_")[0] for v in trained_views}
    other = sorted({m.view for m in maps if m.view and m.view.split("_")[0] not in chambers})
    if chambers and other:
        print(f"warning: the model was trained on {' '.join(trained_views)} but is sampling maps "
              f"of {' '.join(other)}", file=sys.stderr)


def check_same_generation(folder: Path, generation: dict) -> None:
    """Refuse to add to a view folder sampled with other settings (its images would mix). Each
    view folder has its own settings: e.g. 2CH and 4CH views come from different checkpoints."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        return
    try:
        before = json.loads(path.read_text()).get("generation", {})
    except (OSError, ValueError, AttributeError):
        raise UserError(f"{path}: unreadable; remove it or choose another --out-dir") from None
    changed = [f"{k} {before.get(k)!r} -> {v!r}" for k, v in generation.items() if before.get(k) != v]
    if changed:
        raise UserError(f"{folder}: holds samples made with other settings ({'; '.join(changed)}); "
                        "choose another --out-dir")


def sample_batch(batch: list[MapItem], model, sampler: Sampler, config: Config, scale: float,
                 amp_dtype, ctx: DistContext, size: int, num_classes: int, channels: int,
                 out_dir: Path) -> int:
    """Sample and write one batch; returns the images pushed through the network."""
    maps = np.stack([read_map(str(m.path), num_classes, size) for m in batch])
    y = one_hot(torch.from_numpy(maps).to(ctx.device), num_classes)
    noise = PerSampleNoise.for_names(config.seed, [m.name for m in batch], (channels, size, size),
                                     ctx.device)
    denoiser = LabelConditionedDenoiser(model, y, scale, amp_dtype)
    with torch.inference_mode():
        images = to_uint8(sampler(denoiser, noise, progress=ctx.is_main))
    for item, image, label_map in zip(batch, images, maps):
        real = read_image(str(item.real_image), size) if item.real_image else None
        write_outputs(view_dir(out_dir, item), item.name, image, label_map, real)
    return denoiser.images_evaluated


def load_network_and_sampler(config: Config, ctx: DistContext):
    """(model, its ModelConfig, the Sampler, the guidance scale in effect, the views it was trained on)."""
    model, diffusion_config, model_config = load_model(config.checkpoint, ctx.device, config.use_ema)
    state = load_checkpoint(config.checkpoint)  # memory-mapped: only the facts below are read
    label_dropout = float(state.get("label_dropout", 0.0))
    trained_views = list((state.get("config") or {}).get("views") or [])
    scale = effective_guidance_scale(config.guidance_scale, label_dropout, warn=ctx.is_main)
    betas = get_named_beta_schedule(diffusion_config.noise_schedule, diffusion_config.diffusion_steps)
    sampler = Sampler(config.sampler, betas, model_config.learn_sigma, config.steps, config.eta,
                      config.clip_denoised, config.dpm_spacing)
    return model, model_config, sampler, scale, trained_views


def sample(config: Config, ctx: DistContext) -> None:
    check_options(config)
    model, model_config, sampler, scale, trained_views = load_network_and_sampler(config, ctx)
    size, num_classes, channels = model_config.image_size, model_config.num_classes, model_config.in_channels
    amp_dtype = autocast_dtype(config.precision, ctx.device)

    maps = find_maps(config.maps_dir, config.views, config.splits)
    if config.num_samples:
        maps = maps[:config.num_samples]
    for item in tqdm(maps, desc="checking maps", leave=False, disable=not ctx.is_main):
        check_map(item.path, num_classes)
    if ctx.is_main:
        warn_other_chambers(maps, trained_views)
    out_dir = check_writable(config.out_dir)
    checkpoint = config.checkpoint if "://" in config.checkpoint else os.path.abspath(config.checkpoint)
    generation = {"checkpoint": checkpoint, "use_ema": config.use_ema, "sampler": sampler.name,
                  "steps": sampler.steps, "eta": config.eta if sampler.name == "ddim" else 0.0,
                  "dpm_spacing": config.dpm_spacing if sampler.name == "dpm-solver++" else "",
                  "guidance_scale": scale, "clip_denoised": config.clip_denoised,
                  "seed": config.seed, "precision": str(amp_dtype or torch.float32).removeprefix("torch."),
                  "image_size": size}
    folders = sorted({view_dir(out_dir, m) for m in maps})
    for folder in folders:
        check_same_generation(folder, generation)
    todo = [m for m in maps if not is_done(view_dir(out_dir, m), m.name)]
    if ctx.is_main:
        for folder in folders:
            remove_temporaries(folder)
    barrier()  # every rank has listed what is done before anything new is written
    if ctx.is_main:
        for folder in folders:
            save_config(config, folder / CONFIG_FILE, extra={"generation": generation})
        print(f"sampling {len(todo)} of {len(maps)} maps ({len(maps) - len(todo)} already done) "
              f"with {sampler.name}, {sampler.steps} steps, {sampler.nfe} NFE per image, guidance "
              f"{'off' if scale == 1.0 else scale}, {ctx.world_size} process(es) on {ctx.device}",
              file=sys.stderr)

    mine = todo[ctx.rank::ctx.world_size]  # rank r takes maps r, r + N, ...: each exactly once
    start = time.perf_counter()
    evaluated = 0
    bar = tqdm(total=len(mine), desc=f"sampling (rank 0 of {ctx.world_size})", unit="image",
               disable=not ctx.is_main)
    for first in range(0, len(mine), config.batch_size):
        batch = mine[first:first + config.batch_size]
        evaluated += sample_batch(batch, model, sampler, config, scale, amp_dtype, ctx, size,
                                  num_classes, channels, out_dir)
        bar.update(len(batch))
    bar.close()
    counts = torch.zeros(ctx.world_size + 1, dtype=torch.float64, device=ctx.device)
    counts[ctx.rank], counts[-1] = len(mine), evaluated  # (maps of each rank, network images)
    counts = all_reduce_sum(counts).cpu()
    per_rank, totals = counts[:-1], counts[-1:]
    seconds = time.perf_counter() - start
    if ctx.is_main:
        finish(config, out_dir, maps, todo, per_rank, totals, seconds, sampler, scale, generation,
               ctx)


def finish(config, out_dir, maps, todo, per_rank, totals, seconds, sampler, scale, generation, ctx):
    """Per view folder: contact sheet and summary.json (rank 0, after every rank is done)."""
    generated = int(per_rank.sum())
    run = {"views": sorted({m.view for m in maps}), "maps": len(maps), "generated": generated,
           "generated_per_rank": [int(v) for v in per_rank], "network_images": int(totals[0]),
           "seconds": round(seconds, 3),
           "images_per_second": round(generated / seconds, 4) if generated else 0.0,
           "world_size": ctx.world_size, "device": str(ctx.device)}
    missing = 0
    for view in run["views"]:
        folder = out_dir / view if view else out_dir
        names = [m.name for m in maps if m.view == view]
        if config.contact_sheet_rows:
            write_contact_sheet(folder, names, config.contact_sheet_rows)
        done = sum(is_done(folder, n) for n in names)
        missing += len(names) - done
        summary = {"view": view, "count": len(names), "done": done,
                   "generated": sum(m.view == view for m in todo),
                   "skipped": len(names) - sum(m.view == view for m in todo),
                   "sampler": sampler.name, "steps": sampler.steps, "nfe_per_image": sampler.nfe,
                   "network_images_per_image": sampler.nfe * (1 if scale == 1.0 else 2),
                   "guidance_scale": scale, "guidance_requested": config.guidance_scale,
                   "checkpoint": generation["checkpoint"], "seed": config.seed,
                   "precision": generation["precision"], "run": run}
        with atomic_path(folder / SUMMARY_FILE) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
    if missing:
        raise UserError(f"{out_dir}: {missing} maps have no complete outputs after sampling")
    print(f"{generated} images generated, {len(maps) - len(todo)} already there, in {seconds:.1f} s "
          f"({run['images_per_second']} images/s, {sampler.nfe} NFE each) -> {out_dir}",
          file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run_distributed(sample, parse_config(Config, argv, __doc__)))


if __name__ == "__main__":
    main()
