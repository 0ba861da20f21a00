"""Generating the maps of a job: each claimed (sampling.work_claims) so that jobs sharing an output
folder never make the same map, sampled batch by batch and written (sampling.outputs)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from tqdm import tqdm

from echo_from_noise.files import check_still_there
from echo_from_noise.resize import resize_labels
from ..samplers import PerSampleNoise
from ..samplers.guidance import LabelConditionedDenoiser
from ..training.data import one_hot, read_image, read_map
from .job import Job
from .maps import MapItem
from .outputs import claim_path, is_done, remove_temporaries, to_uint8, write_outputs


def sample_batch(job: Job, batch: list[MapItem]) -> int:
    """Sample and write one batch; returns the images pushed through the network."""
    size, num_classes, device = job.space.image_size, job.model_config.num_classes, job.ctx.device
    maps = np.stack([read_map(str(m.path), num_classes, size) for m in batch])
    side = job.space.network_size  # the latent side for a latent model
    condition = np.stack([resize_labels(m, side) for m in maps])
    y = one_hot(torch.from_numpy(condition).to(device), num_classes)
    noise = PerSampleNoise.for_names(job.config.seed, [m.name for m in batch],
                                     (job.model_config.in_channels, side, side), device)
    denoiser = LabelConditionedDenoiser(job.model, y, job.guidance_scale, job.amp_dtype)
    with torch.inference_mode():
        x = job.sampler(denoiser, noise, progress=job.ctx.is_main)
        images = to_uint8(job.space.decode(x))
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
