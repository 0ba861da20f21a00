"""What a sampling job checks before it writes anything: the maps (each read), the chambers the
model was trained on, the settings an output folder was sampled with; and which maps are left to do."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from echo_from_noise.contract import SAMPLE_CONFIG_FILE, sample_name, view_chamber
from echo_from_noise.errors import UserError
from ..training.distributed import broadcast_object
from .job import Job
from .maps import MapItem, check_map, find_maps
from .outputs import is_done


def warn_other_chambers(maps: list[MapItem], trained_views: list[str]) -> None:
    """The paper samples ED and ES maps of a chamber with the model trained on that chamber's ED
    frames; maps of a chamber the model never saw are allowed, with a warning."""
    chambers = {view_chamber(v) for v in trained_views}
    other = sorted({m.view for m in maps if m.view and view_chamber(m.view) not in chambers})
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
    path = folder / SAMPLE_CONFIG_FILE
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
