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

import sys
import time
from functools import partial
from pathlib import Path

from echo_from_noise.cli import program, save_config
from echo_from_noise.contract import SAMPLE_CONFIG_FILE
from echo_from_noise.files import check_still_there, check_writable
from .formulations import fits as formulation_fits
from .samplers.registry import describe as describe_samplers
from .sampling.checks import checked_maps, maps_to_do, view_folders
from .sampling.config import Config, check_options
from .sampling.generation import generate
from .sampling.job import Job
from .sampling.summary import finish
from .sampling.tally import gather_tally
from .training.distributed import DistContext, run_distributed


def announce(job: Job, folders: list[Path], todo: int, total: int) -> None:
    """Record the settings in each view folder and say what will be done (rank 0)."""
    for folder in folders:
        save_config(job.config, folder / SAMPLE_CONFIG_FILE, extra={"generation": job.generation})
    sampler, scale = job.sampler, job.guidance_scale
    print(f"sampling {todo} of {total} maps ({total - todo} already done) "
          f"with {sampler.name}, {sampler.steps} steps, {sampler.nfe} NFE per image, guidance "
          f"{'off' if scale == 1.0 else scale}, {job.ctx.world_size} process(es) on {job.ctx.device}",
          file=sys.stderr)


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


def description() -> str:
    """The --help text: the samplers as registered when the program runs (a test adds one)."""
    return __doc__.replace("{samplers}", describe_samplers(formulation_fits()))


CONFIG = Config  # (what the pipeline checks its options with)
# explicit: an option given that the chosen sampler does not read is refused
main = program(CONFIG, partial(run_distributed, sample), description, explicit=True)


if __name__ == "__main__":
    main()
