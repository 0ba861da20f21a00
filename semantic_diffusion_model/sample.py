"""Generate one synthetic echocardiogram per label map with a trained semantic diffusion model.

Reads a checkpoint of semantic_diffusion_model.train and the (augmented) sector maps of step 2, and
writes step 3 (docs/data_contract.md): OUT/<VIEW>/{samples,labels,labels_visible,combined}/<name>.png and,
per view, contact_sheet.png, summary.json and sample_config.json. Runs as one process, under
`mpiexec -n N` or `torchrun --nproc_per_node N` (the maps are split across the processes, each
generated exactly once). Each map's noise comes from (--seed, map name), so its image does not
depend on the batch size, the number of processes or restarts. Re-running the same command skips
finished maps: a killed job resumes where it stopped. Independent jobs may share one --out-dir
(started at once, on one or several machines): each map is claimed by one job (a hidden claim file,
semantic_diffusion_model.work_claims) and the others skip it; claims of killed jobs are taken over.
A job that runs out of work while others still generate reports how many and exits 0; the last job
to finish leaves the complete summary.json and contact sheet.

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
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from echo_from_noise.errors import UserError
from echo_from_noise.cli import parse_config, run_program, save_config
from echo_from_noise.files import atomic_path, check_writable
from echo_from_noise.contract import SPLITS, VIEWS

from .checkpoint import load_checkpoint, load_model
from .data import one_hot, read_image, read_map
from .diffusion import get_named_beta_schedule
from .distributed import DistContext, all_reduce_sum, broadcast_object, run_distributed
from .guidance import LabelConditionedDenoiser, effective_guidance_scale
from .sample_outputs import (CLAIM_PATTERN, claim_path, is_done, remove_temporaries, to_uint8,
                             write_contact_sheet, write_outputs)
from .samplers import SAMPLER_NAMES, PerSampleNoise, Sampler
from .samplers.dpm_solver import SPACINGS
from .sampling_maps import MapItem, check_map, find_maps
from echo_from_noise.device import autocast_dtype
from .work_claims import Claims

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
    claim_timeout_minutes: float = field(default=30.0, metadata={"help": "jobs sharing --out-dir claim each map they generate (a hidden <VIEW>/.<name>.png.claim file, refreshed while they work); a claim of a dead process on this host is taken over at once, one from another host after this many minutes without refresh"})
    dist_host: str = field(default="", metadata={"help": "rendezvous address under mpiexec (default: rank 0's host name)"})


def check_options(config: Config) -> None:
    if config.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {config.batch_size}")
    if config.steps < 0 or config.num_samples < 0 or config.contact_sheet_rows < 0:
        raise UserError("--steps, --num-samples and --contact-sheet-rows must be >= 0")
    if config.guidance_scale < 0:
        raise UserError(f"--guidance-scale must be >= 0, got {config.guidance_scale}")
    if config.claim_timeout_minutes <= 0:
        raise UserError(f"--claim-timeout-minutes must be > 0, got {config.claim_timeout_minutes}")


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


def sample_batch(batch: list[MapItem], *, model, sampler: Sampler, config: Config, scale: float,
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


def claim_chunk(chunk: list[MapItem], claims: Claims,
                out_dir: Path) -> tuple[list[MapItem], list[MapItem]]:
    """(the maps of ``chunk`` this job now holds, those another job is generating); finished maps
    are in neither."""
    held, busy = [], []
    for item in chunk:
        folder = view_dir(out_dir, item)
        if is_done(folder, item.name):
            continue
        if not claims.claim(claim_path(folder, item.name)):
            busy.append(item)
        elif is_done(folder, item.name):  # finished by another job between the check and the claim
            claims.release(claim_path(folder, item.name))
        else:
            remove_temporaries(folder, item.name)  # of a job killed while writing this map
            held.append(item)
    return held, busy


def generate(mine: list[MapItem], claims: Claims, out_dir: Path, batch_size: int, run_batch,
             bar) -> tuple[Counter, int]:
    """Generate the maps of ``mine`` that no other job holds, batch by batch; returns (maps
    generated per view, network images). Maps held by others are tried again while that helps:
    their job may finish them or die."""
    made, evaluated, pending = Counter(), 0, mine
    while pending:
        busy = []
        for first in range(0, len(pending), batch_size):
            # the batches of a single job, less the maps of others: the same images either way
            chunk = pending[first:first + batch_size]
            batch, others = claim_chunk(chunk, claims, out_dir)
            busy += others
            if batch:
                evaluated += run_batch(batch)
                for item in batch:
                    claims.release(claim_path(view_dir(out_dir, item), item.name))
                made.update(item.view for item in batch)
            bar.update(len(chunk) - len(others))
        if len(busy) == len(pending):  # nothing moved: the rest is other jobs' work
            break
        pending = busy
    return made, evaluated


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
        folder.mkdir(parents=True, exist_ok=True)  # for the claims of every rank
    # rank 0 lists what is done for all: other jobs may finish maps while ranks would look
    done = [is_done(view_dir(out_dir, m), m.name) for m in maps] if ctx.is_main else None
    todo = [m for m, d in zip(maps, broadcast_object(done)) if not d]
    if ctx.is_main:
        for folder in folders:
            save_config(config, folder / CONFIG_FILE, extra={"generation": generation})
        print(f"sampling {len(todo)} of {len(maps)} maps ({len(maps) - len(todo)} already done) "
              f"with {sampler.name}, {sampler.steps} steps, {sampler.nfe} NFE per image, guidance "
              f"{'off' if scale == 1.0 else scale}, {ctx.world_size} process(es) on {ctx.device}",
              file=sys.stderr)

    mine = todo[ctx.rank::ctx.world_size]  # rank r takes maps r, r + N, ...: each exactly once
    claims = Claims(config.claim_timeout_minutes * 60)
    run_batch = partial(sample_batch, model=model, sampler=sampler, config=config, scale=scale,
                        amp_dtype=amp_dtype, ctx=ctx, size=size, num_classes=num_classes,
                        channels=channels, out_dir=out_dir)
    start = time.perf_counter()
    bar = tqdm(total=len(mine), desc=f"sampling (rank 0 of {ctx.world_size})", unit="image",
               disable=not ctx.is_main)
    with claims.heartbeat():
        made, evaluated = generate(mine, claims, out_dir, config.batch_size, run_batch, bar)
    bar.close()
    views = sorted({m.view for m in maps})
    counts = torch.zeros(ctx.world_size + 1 + len(views), dtype=torch.float64, device=ctx.device)
    counts[ctx.rank], counts[ctx.world_size] = sum(made.values()), evaluated
    counts[ctx.world_size + 1:] = torch.tensor([float(made[v]) for v in views], dtype=torch.float64)
    counts = all_reduce_sum(counts).cpu()  # (maps of each rank, network images, maps of each view)
    per_rank, network_images = counts[:ctx.world_size], int(counts[ctx.world_size])
    per_view = dict(zip(views, (int(c) for c in counts[ctx.world_size + 1:])))
    seconds = time.perf_counter() - start
    if ctx.is_main:
        finish(config, out_dir, maps, per_rank, per_view, network_images, seconds, sampler, scale,
               generation, ctx, claims)


def count_states(folder: Path, names: list[str], claims: Claims) -> tuple[int, int]:
    """(done, being generated by other jobs) of the maps ``names`` of a view folder; the claims
    of dead jobs are removed first."""
    claims.remove_stale(folder, CLAIM_PATTERN)
    done = busy = 0
    for name in names:
        claimed = claim_path(folder, name).exists()  # before is_done: its owner writes, then releases
        finished = is_done(folder, name)
        done += finished
        busy += claimed and not finished
    return done, busy


def finish(config, out_dir, maps, per_rank, per_view, network_images, seconds, sampler, scale,
           generation, ctx, claims):
    """Per view folder: contact sheet and summary.json from what is on disk (rank 0, after every
    rank is done). Each job sharing the folder rewrites them, one at a time: the last one's stand."""
    generated = int(per_rank.sum())
    run = {"views": sorted(per_view), "maps": len(maps), "generated": generated,
           "generated_per_rank": [int(v) for v in per_rank], "network_images": network_images,
           "seconds": round(seconds, 3),
           "images_per_second": round(generated / seconds, 4) if generated else 0.0,
           "world_size": ctx.world_size, "device": str(ctx.device)}
    missing = others = done_total = 0
    for view in run["views"]:
        folder = out_dir / view if view else out_dir
        names = [m.name for m in maps if m.view == view]
        with claims.hold(folder / f".{SUMMARY_FILE}.claim"):
            if config.contact_sheet_rows:
                write_contact_sheet(folder, names, config.contact_sheet_rows)
            done, busy = count_states(folder, names, claims)
            summary = {"view": view, "count": len(names), "done": done,
                       "generated": per_view[view], "skipped": len(names) - per_view[view],
                       "other_jobs": busy,
                       "sampler": sampler.name, "steps": sampler.steps, "nfe_per_image": sampler.nfe,
                       "network_images_per_image": sampler.nfe * (1 if scale == 1.0 else 2),
                       "guidance_scale": scale, "guidance_requested": config.guidance_scale,
                       "checkpoint": generation["checkpoint"], "seed": config.seed,
                       "precision": generation["precision"], "run": run}
            with atomic_path(folder / SUMMARY_FILE) as tmp:
                tmp.write_text(json.dumps(summary, indent=2) + "\n")
        missing += len(names) - done - busy
        others += busy
        done_total += done
    if missing:
        raise UserError(f"{out_dir}: {missing} maps have no complete outputs after sampling (a job "
                        "that had claimed them stopped?): run the command again")
    print(f"{generated} images generated, {done_total - generated} done by earlier runs or other "
          f"jobs, in {seconds:.1f} s ({run['images_per_second']} images/s, {sampler.nfe} NFE each) "
          f"-> {out_dir}", file=sys.stderr)
    if others:
        print(f"{others} maps being generated by other jobs (the last job to finish completes "
              f"{SUMMARY_FILE} and {'the contact sheet' if config.contact_sheet_rows else 'the set'})",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run_distributed(sample, parse_config(Config, argv, __doc__)))


if __name__ == "__main__":
    main()
