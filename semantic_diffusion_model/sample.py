"""Generate one synthetic echocardiogram per label map with a trained semantic diffusion model.

Reads a checkpoint of semantic_diffusion_model.train and the (augmented) sector maps of step 2, and
writes step 3 (docs/data_contract.md): OUT/<VIEW>/{samples,labels,labels_visible,combined}/<name>.png and,
per view, contact_sheet.png, summary.json and sample_config.json. Runs as one process, under
`mpiexec -n N` or `torchrun --nproc_per_node N` (the maps are split across the processes, each
generated exactly once). Each map's noise comes from (--seed, map name), so its image does not
depend on the batch size, the number of processes or restarts. Re-running the same command skips
finished maps: a killed job resumes where it stopped. Independent jobs may share one --out-dir
(started at once, on one or several machines): each map is claimed by one job (a hidden claim file,
semantic_diffusion_model.sampling.work_claims) and the others skip it; claims of killed jobs are taken over.
A job that runs out of work while others still generate reports how many and exits 0; the last job
to finish leaves the complete summary.json and contact sheet.

Samplers (--sampler, NFE = network evaluations per image):
{samplers}

Examples (the paper trained one model per chamber on ED frames and used it for ED and ES maps):
  python -m semantic_diffusion_model.sample --checkpoint runs/sdm_2ch/checkpoint_0050000.pt \\
      --maps-dir LABELS --views 2CH_ED 2CH_ES --out-dir SAMPLES
  mpiexec -n 8 python -m semantic_diffusion_model.sample --checkpoint ... --maps-dir LABELS \\
      --views 4CH_ED 4CH_ES --out-dir SAMPLES --sampler dpm-solver++ --steps 20
  python -m semantic_diffusion_model.sample --checkpoint runs/edm_2ch/checkpoint_0050000.pt \\
      --maps-dir LABELS --views 2CH_ED 2CH_ES --out-dir SAMPLES_EDM --sampler heun --steps 18
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from echo_from_noise.cli import explicit_options, parse_config, run_program, save_config
from echo_from_noise.contract import SPLITS, VIEWS, sample_name
from echo_from_noise.device import PRECISIONS, autocast_dtype
from echo_from_noise.errors import UserError
from echo_from_noise.files import atomic_path, check_still_there, check_writable
from echo_from_noise.launch import DIST_HOST_HELP
from echo_from_noise.resize import resize_labels

from .training.checkpoint import load_checkpoint, model_from_state
from .config import ModelConfig
from .training.data import one_hot, read_image, read_map
from .training.distributed import DistContext, all_reduce_sum, broadcast_object, run_distributed
from .samplers.guidance import LabelConditionedDenoiser, effective_guidance_scale
from .sampling.outputs import (CLAIM_PATTERN, claim_path, is_done, remove_temporaries, to_uint8,
                             write_contact_sheet, write_outputs)
from .formulations import fits as formulation_fits
from .formulations import formulation_of
from .samplers import PerSampleNoise, Sampler, SamplerConfig
from .samplers.registry import describe as describe_samplers
from .sampling.latent import LatentSpace
from .sampling.maps import MapItem, check_map, find_maps
from .sampling.work_claims import Claims

CONFIG_FILE = "sample_config.json"
SUMMARY_FILE = "summary.json"


@dataclass
class Config(SamplerConfig):
    checkpoint: str = field(default="", metadata={"help": "checkpoint written by semantic_diffusion_model.train (local path or gs:// / az:// URL)", "required": True})
    maps_dir: str = field(default="", metadata={"help": "label maps: a step-2 root (its <VIEW>_augmented/sector_annotations/<split> folders), one view's map folder with split subfolders, or a plain folder of map PNGs", "required": True})
    out_dir: str = field(default="", metadata={"help": "output root (step 3 layout: <VIEW>/samples, labels, labels_visible, combined)", "required": True})
    views: tuple[str, ...] = field(default=VIEWS, metadata={"help": "views to sample (maps of other views are left out)", "choices": VIEWS})
    splits: tuple[str, ...] = field(default=("training", "validation"), metadata={"help": "split subfolders to sample (the testing split stays real)", "choices": SPLITS})
    guidance_scale: float = field(default=1.0, metadata={"help": "classifier-free guidance scale s (eps = eps_null + s (eps_map - eps_null)); 1 = off (the paper); needs a model trained with --label-dropout > 0"})
    batch_size: int = field(default=16, metadata={"help": "maps sampled together on each process"})
    seed: int = field(default=0, metadata={"help": "global seed; each map's noise is seeded by (seed, map name)"})
    precision: str = field(default="auto", metadata={"help": "network precision: auto = bf16 on GPUs that support it, else fp32", "choices": PRECISIONS})
    num_samples: int = field(default=0, metadata={"help": "sample only the first N maps of the sorted set (0 = all)"})
    samples_per_map: int = field(default=1, metadata={"help": "images per map, each from its own noise: the first is named after the map, the k-th extra one <name>_s<k> (for diversity: evaluate_synthetic compares the images of one map)"})
    use_ema: bool = field(default=True, metadata={"help": "use the EMA weights of the checkpoint (else the raw weights)"})
    contact_sheet_rows: int = field(default=8, metadata={"help": "maps shown in each view's contact_sheet.png (0 = none)"})
    autoencoder: str = field(default="", metadata={"help": "latent models: the Gamma-VAE to decode with (default: the path the checkpoint recorded; it must be the same network, checked by a digest of its weights)"})
    claim_timeout_minutes: float = field(default=30.0, metadata={"help": "jobs sharing --out-dir claim each map they generate (a hidden <VIEW>/.<name>.png.claim file, refreshed while they work); a claim of a dead process on this host is taken over at once, one from another host after this many minutes without refresh"})
    dist_host: str = field(default="", metadata={"help": DIST_HOST_HELP})


def check_options(config: Config) -> None:
    if config.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {config.batch_size}")
    if config.steps < 0 or config.num_samples < 0 or config.contact_sheet_rows < 0:
        raise UserError("--steps, --num-samples and --contact-sheet-rows must be >= 0")
    if config.samples_per_map < 1:
        raise UserError(f"--samples-per-map must be >= 1, got {config.samples_per_map}")
    if config.guidance_scale < 0:
        raise UserError(f"--guidance-scale must be >= 0, got {config.guidance_scale}")
    if config.claim_timeout_minutes <= 0:
        raise UserError(f"--claim-timeout-minutes must be > 0, got {config.claim_timeout_minutes}")


@dataclass
class Job:
    """One rank's part of a sampling job: its options, the network and sampler (the checkpoint is
    loaded once) and the claims it holds on maps of the shared output folder."""

    config: Config
    ctx: DistContext
    model: torch.nn.Module
    model_config: ModelConfig
    trained_views: list[str]
    sampler: Sampler
    guidance_scale: float  # in effect: 1 (off) for a model that never learned the null map
    amp_dtype: torch.dtype | None
    claims: Claims
    latent: LatentSpace | None  # the autoencoder of a latent diffusion model

    @classmethod
    def load(cls, config: Config, ctx: DistContext) -> "Job":
        """Read the checkpoint (once), rebuild its network and prepare the sampler."""
        state = load_checkpoint(config.checkpoint)
        model, diffusion_config, model_config = model_from_state(state, config.checkpoint,
                                                                 ctx.device, config.use_ema)
        scale = effective_guidance_scale(config.guidance_scale,
                                         float(state.get("label_dropout", 0.0)), warn=ctx.is_main)
        latent = LatentSpace.of_checkpoint(state, config.checkpoint, config.autoencoder, ctx.device)
        # standardised latents are not in [-1, 1]: no clipping of the denoised latent
        clip = config.clip_denoised and latent is None
        process = formulation_of(diffusion_config, model_config.learn_sigma).process()
        sampler = Sampler(config.sampler, process,
                          config.steps, options=config, what=config.checkpoint, clip_denoised=clip)
        trained_views = list((state.get("config") or {}).get("views") or [])
        return cls(config, ctx, model, model_config, trained_views, sampler, scale,
                   autocast_dtype(config.precision, ctx.device),
                   Claims(config.claim_timeout_minutes * 60), latent)

    @property
    def image_size(self) -> int:
        """The side of the images written (the autoencoder's for a latent model)."""
        return self.latent.image_size if self.latent else self.model_config.image_size

    @property
    def out_dir(self) -> Path:
        return Path(self.config.out_dir)

    def folder(self, view: str) -> Path:
        """The output folder of a view ("" for maps that tell no view: --out-dir itself)."""
        return self.out_dir / view if view else self.out_dir

    @property
    def generation(self) -> dict:
        """The settings that decide the images (recorded in each view folder's sample_config.json)."""
        c, sampler = self.config, self.sampler
        checkpoint = c.checkpoint if "://" in c.checkpoint else os.path.abspath(c.checkpoint)
        return {"checkpoint": checkpoint, "use_ema": c.use_ema, "sampler": sampler.name,
                "steps": sampler.steps,
                # what the sampler reads on this checkpoint (recorded only for it: folders sampled
                # before an option existed still match)
                **sampler.recorded_options,
                "guidance_scale": self.guidance_scale,
                "clip_denoised": sampler.options.clip_denoised,
                **({"autoencoder": self.latent.digest} if self.latent else {}),
                "seed": c.seed,
                "precision": str(self.amp_dtype or torch.float32).removeprefix("torch."),
                "image_size": self.image_size}


@dataclass
class Tally:
    """What the whole job did, summed over its ranks."""

    maps: int  # the job's maps, done before or now
    per_rank: list[int]  # maps generated by each rank
    per_view: dict[str, int]  # maps generated in each view
    network_images: int
    seconds: float

    @property
    def generated(self) -> int:
        return sum(self.per_rank)

    @property
    def images_per_second(self) -> float:
        return round(self.generated / self.seconds, 4) if self.generated else 0.0


def warn_other_chambers(maps: list[MapItem], trained_views: list[str]) -> None:
    """The paper samples ED and ES maps of a chamber with the model trained on that chamber's ED
    frames; maps of a chamber the model never saw are allowed, with a warning."""
    chambers = {v.split("_")[0] for v in trained_views}
    other = sorted({m.view for m in maps if m.view and m.view.split("_")[0] not in chambers})
    if chambers and other:
        print(f"warning: the model was trained on {' '.join(trained_views)} but is sampling maps "
              f"of {' '.join(other)}", file=sys.stderr)


def checked_maps(job: Job) -> list[MapItem]:
    """The maps to sample, each read and checked before anything is written."""
    config = job.config
    maps = find_maps(config.maps_dir, config.views, config.splits)
    if config.num_samples:
        maps = maps[:config.num_samples]
    for item in tqdm(maps, desc="checking maps", leave=False, disable=not job.ctx.is_main):
        check_map(item.path, job.model_config.num_classes)
    if job.ctx.is_main:
        warn_other_chambers(maps, job.trained_views)
    return with_seeds(maps, config.samples_per_map)


def with_seeds(maps: list[MapItem], samples_per_map: int) -> list[MapItem]:
    """Each map once per image to make: the k-th extra image of a map is named <name>_s<k>, and
    its noise, seeded by that name, differs from the other images' (the first keeps the map's
    name, so a set sampled with more images per map keeps the images it had)."""
    named = [replace(m, name=sample_name(m.name, k)) for m in maps for k in range(samples_per_map)]
    return sorted(named, key=lambda m: (m.view, m.name))


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


def view_folders(job: Job, maps: list[MapItem]) -> list[Path]:
    """The view folders of ``maps``, checked to hold images of these settings only, created."""
    folders = sorted({job.folder(m.view) for m in maps})
    for folder in folders:
        check_same_generation(folder, job.generation)
        folder.mkdir(parents=True, exist_ok=True)  # for the claims of every rank
    return folders


def maps_to_do(job: Job, maps: list[MapItem]) -> list[MapItem]:
    """The maps without complete outputs. Rank 0 looks for all: other jobs may finish maps while
    the ranks would look one after another."""
    done = [is_done(job.folder(m.view), m.name) for m in maps] if job.ctx.is_main else None
    return [m for m, d in zip(maps, broadcast_object(done)) if not d]


def announce(job: Job, folders: list[Path], todo: int, total: int) -> None:
    """Record the settings in each view folder and say what will be done (rank 0)."""
    for folder in folders:
        save_config(job.config, folder / CONFIG_FILE, extra={"generation": job.generation})
    sampler, scale = job.sampler, job.guidance_scale
    print(f"sampling {todo} of {total} maps ({total - todo} already done) "
          f"with {sampler.name}, {sampler.steps} steps, {sampler.nfe} NFE per image, guidance "
          f"{'off' if scale == 1.0 else scale}, {job.ctx.world_size} process(es) on {job.ctx.device}",
          file=sys.stderr)


def sample_batch(job: Job, batch: list[MapItem]) -> int:
    """Sample and write one batch; returns the images pushed through the network."""
    size, num_classes, device = job.image_size, job.model_config.num_classes, job.ctx.device
    maps = np.stack([read_map(str(m.path), num_classes, size) for m in batch])
    side = job.model_config.image_size  # the model's: the latent side for a latent model
    condition = np.stack([resize_labels(m, side) for m in maps])
    y = one_hot(torch.from_numpy(condition).to(device), num_classes)
    noise = PerSampleNoise.for_names(job.config.seed, [m.name for m in batch],
                                     (job.model_config.in_channels, side, side), device)
    denoiser = LabelConditionedDenoiser(job.model, y, job.guidance_scale, job.amp_dtype)
    with torch.inference_mode():
        x = job.sampler(denoiser, noise, progress=job.ctx.is_main)
        images = to_uint8(job.latent.decode(x) if job.latent else x)
    for item, image, label_map in zip(batch, images, maps):
        real = read_image(str(item.real_image), size) if item.real_image else None
        folder = job.folder(item.view)
        if not claim_path(folder, item.name).exists():  # our claim gone: the folder removed?
            check_still_there(job.out_dir, "sampling")
            check_still_there(folder, "sampling")
        write_outputs(folder, item.name, image, label_map, real)
    return denoiser.images_evaluated


def claim_chunk(job: Job, chunk: list[MapItem]) -> tuple[list[MapItem], list[MapItem]]:
    """(the maps of ``chunk`` this job now holds, those another job is generating); finished maps
    are in neither."""
    held, busy = [], []
    for item in chunk:
        folder = job.folder(item.view)
        if is_done(folder, item.name):
            continue
        if not job.claims.claim(claim_path(folder, item.name)):
            busy.append(item)
        elif is_done(folder, item.name):  # finished by another job between the check and the claim
            job.claims.release(claim_path(folder, item.name))
        else:
            remove_temporaries(folder, item.name)  # of a job killed while writing this map
            held.append(item)
    return held, busy


def generate_pass(job: Job, pending: list[MapItem], bar) -> tuple[Counter, int, list[MapItem]]:
    """One pass over ``pending``, batch by batch -> (maps generated per view, network images,
    the maps that other jobs hold)."""
    made, evaluated, busy = Counter(), 0, []
    batch_size = job.config.batch_size
    for first in range(0, len(pending), batch_size):
        # the batches of a single job, less the maps of others: the same images either way
        chunk = pending[first:first + batch_size]
        batch, others = claim_chunk(job, chunk)
        busy += others
        if batch:
            evaluated += sample_batch(job, batch)
            for item in batch:
                job.claims.release(claim_path(job.folder(item.view), item.name))
            made.update(item.view for item in batch)
        bar.update(len(chunk) - len(others))
    return made, evaluated, busy


def generate(job: Job, mine: list[MapItem]) -> tuple[Counter, int]:
    """Generate the maps of ``mine`` that no other job holds; returns (maps generated per view,
    network images). Maps held by others are tried again while that helps: their job may finish
    them or die."""
    made, evaluated, pending = Counter(), 0, mine
    # the bar is closed (its line ended) before any error is printed
    with tqdm(total=len(mine), desc=f"sampling (rank 0 of {job.ctx.world_size})", unit="image",
              disable=not job.ctx.is_main) as bar, job.claims.heartbeat():
        while pending:
            made_now, evaluated_now, busy = generate_pass(job, pending, bar)
            made.update(made_now)
            evaluated += evaluated_now
            if len(busy) == len(pending):  # nothing moved: the rest is other jobs' work
                break
            pending = busy
    return made, evaluated


def gather_tally(ctx: DistContext, maps: list[MapItem], made: Counter, evaluated: int,
                 start: float) -> Tally:
    """Sum what each rank did over the job (every rank takes part)."""
    views = sorted({m.view for m in maps})
    counts = torch.zeros(ctx.world_size + 1 + len(views), dtype=torch.float64, device=ctx.device)
    counts[ctx.rank], counts[ctx.world_size] = sum(made.values()), evaluated
    counts[ctx.world_size + 1:] = torch.tensor([float(made[v]) for v in views], dtype=torch.float64)
    counts = all_reduce_sum(counts).cpu()  # (maps of each rank, network images, maps of each view)
    return Tally(len(maps), [int(c) for c in counts[:ctx.world_size]],
                 dict(zip(views, (int(c) for c in counts[ctx.world_size + 1:]))),
                 int(counts[ctx.world_size]), time.perf_counter() - start)


def sample(config: Config, ctx: DistContext) -> None:
    check_options(config)
    job = Job.load(config, ctx)
    maps = checked_maps(job)
    check_writable(config.out_dir)
    folders = view_folders(job, maps)
    todo = maps_to_do(job, maps)
    if ctx.is_main:
        announce(job, folders, len(todo), len(maps))
    mine = todo[ctx.rank::ctx.world_size]  # rank r takes maps r, r + N, ...: each exactly once
    start = time.perf_counter()
    try:
        made, evaluated = generate(job, mine)
    except FileNotFoundError:  # a claim's folder gone: the output folder was removed?
        check_still_there(config.out_dir, "sampling")
        for folder in folders:
            check_still_there(folder, "sampling")
        raise
    tally = gather_tally(ctx, maps, made, evaluated, start)
    if ctx.is_main:
        finish(job, maps, tally)


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


def run_facts(job: Job, tally: Tally) -> dict:
    """The "run" entry of each summary.json: this job as a whole."""
    return {"views": sorted(tally.per_view), "maps": tally.maps, "generated": tally.generated,
            "generated_per_rank": tally.per_rank, "network_images": tally.network_images,
            "seconds": round(tally.seconds, 3), "images_per_second": tally.images_per_second,
            "world_size": job.ctx.world_size, "device": str(job.ctx.device)}


def write_summary(job: Job, view: str, names: list[str], tally: Tally) -> tuple[int, int]:
    """A view folder's contact sheet and summary.json from what is on disk -> (maps done, maps
    being generated by other jobs). One job at a time: the summary's claim is held."""
    folder, config, sampler, scale = job.folder(view), job.config, job.sampler, job.guidance_scale
    with job.claims.hold(folder / f".{SUMMARY_FILE}.claim"):
        if config.contact_sheet_rows:
            write_contact_sheet(folder, names, config.contact_sheet_rows)
        done, busy = count_states(folder, names, job.claims)
        summary = {"view": view, "count": len(names), "done": done,
                   "generated": tally.per_view[view], "skipped": len(names) - tally.per_view[view],
                   "other_jobs": busy,
                   "formulation": sampler.process.formulation,
                   "sampler": sampler.name, "steps": sampler.steps, "nfe_per_image": sampler.nfe,
                   "seconds_per_image": round(tally.seconds / tally.generated, 4) if tally.generated else None,
                   "network_images_per_image": sampler.nfe * (1 if scale == 1.0 else 2),
                   "samples_per_map": config.samples_per_map,
                   "guidance_scale": scale, "guidance_requested": config.guidance_scale,
                   "checkpoint": job.generation["checkpoint"], "seed": config.seed,
                   "precision": job.generation["precision"], "run": run_facts(job, tally)}
        with atomic_path(folder / SUMMARY_FILE) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return done, busy


def finish(job: Job, maps: list[MapItem], tally: Tally) -> None:
    """Per view folder: contact sheet and summary.json (rank 0, after every rank is done). Each
    job sharing the folder rewrites them, one at a time: the last one's stand."""
    missing = others = done_total = 0
    for view in sorted(tally.per_view):
        names = [m.name for m in maps if m.view == view]
        done, busy = write_summary(job, view, names, tally)
        missing += len(names) - done - busy
        others += busy
        done_total += done
    if missing:
        raise UserError(f"{job.out_dir}: {missing} maps have no complete outputs after sampling (a "
                        "job that had claimed them stopped?): run the command again")
    report(job, tally, done_total, others)


def report(job: Job, tally: Tally, done_total: int, others: int) -> None:
    """The job's last lines on stderr."""
    print(f"{tally.generated} images generated, {done_total - tally.generated} done by earlier runs "
          f"or other jobs, in {tally.seconds:.1f} s ({tally.images_per_second} images/s, "
          f"{job.sampler.nfe} NFE each) -> {job.out_dir}", file=sys.stderr)
    if others:
        print(f"{others} maps being generated by other jobs (the last job to finish completes "
              f"{SUMMARY_FILE} and "
              f"{'the contact sheet' if job.config.contact_sheet_rows else 'the set'})",
              file=sys.stderr)


CONFIG = Config  # (what the pipeline checks its options with)


def main(argv: list[str] | None = None) -> None:
    description = __doc__.replace("{samplers}", describe_samplers(formulation_fits()))
    def body():
        config = parse_config(Config, argv, description)
        config.explicit = explicit_options(Config, argv)  # an option the sampler does not read is refused
        run_distributed(sample, config)
    run_program(body)


if __name__ == "__main__":
    main()
