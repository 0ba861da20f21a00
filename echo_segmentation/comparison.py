"""Several test runs side by side (for example synthetic-trained vs real-trained): the Markdown
tables of echo_segmentation.compare.

Dice (%) with 95 % confidence intervals, one row per run, with the published rows of the paper
below; the paired Dice difference of every run to the first one (image by image, patient
bootstrap); HD95 and mean surface distance per structure; where each run was trained and tested.
"""
from __future__ import annotations

import math

import numpy as np

from echo_from_noise.errors import UserError

from .metrics import STRUCTURE_NAMES, STRUCTURES, metric_column
from .report import cell, published_rows, table
from .results_folder import read_rows
from .statistics import bootstrap_interval, groups_of


def check_group(folders: list[str], summaries: list[dict], group: str) -> None:
    """UserError naming the first summary without the image group ``group``."""
    for folder, summary in zip(folders, summaries):
        if group not in summary["groups"]:
            raise UserError(f"{folder}/summary.json: no image group {group!r} "
                            f"(has {sorted(summary['groups'])})")


def stat(summary: dict, group: str, metric: str, structure: str) -> dict:
    value = summary["groups"][group]["metrics"][metric_column(metric, structure)]
    return {k: math.nan if v is None else v for k, v in value.items()}


def paired_differences(folders: list[str], names: list[str], group: str, seed: int = 0
                       ) -> list[list[str]]:
    """Dice of each run minus the first run's, image by image (95 % CI resampling patients).

    Paired differences are far more sensitive than comparing two separate intervals; they need
    both runs tested on the same images.
    """
    first = read_rows(folders[0])
    stems = sorted(row["stem"] for row in groups_of(list(first.values())).get(group, []))
    patients = [first[s]["patient"] for s in stems]
    rows = []
    for folder, name in zip(folders[1:], names[1:]):
        other = read_rows(folder)
        if not stems or any(s not in other for s in stems):
            rows.append([f"{name} - {names[0]}"] + ["different test images"] * len(STRUCTURES))
            continue
        cells = []
        for structure in STRUCTURES:
            column = metric_column("dice", structure)
            diff = 100 * np.array([float(other[s][column]) - float(first[s][column]) for s in stems])
            low, high = bootstrap_interval(diff, patients, 1000, np.random.default_rng(seed))
            cells.append(f"{diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]")
        rows.append([f"{name} - {names[0]}"] + cells)
    return rows


def render_comparison(folders: list[str], summaries: list[dict], names: list[str],
                      group: str) -> str:
    """The comparison of the runs in ``folders`` (their summaries and row names) on the images
    of ``group`` (all, 2CH, ED, 2CH_ED, ...)."""
    g = group
    structures = [STRUCTURE_NAMES[s] for s in STRUCTURES]
    lines = [f"# Segmentation comparison (images: {g})", "", "## Dice (%), mean ± std [95 % CI]", ""]
    rows = [[f"{name} ({s['groups'][g]['num_images']} images, preset "
             f"{s['training']['preset']})"] + [cell(stat(s, g, 'dice', st), 100) for st in STRUCTURES]
            for name, s in zip(names, summaries)]
    lines += table(["run", *structures], rows + published_rows())
    if len(summaries) > 1:
        lines += ["", f"## Paired Dice difference to {names[0]} (percentage points, same images, "
                  "95 % CI resampling patients)", ""]
        lines += table(["runs", *structures], paired_differences(folders, names, g))
    for metric, title in (("hd95", "HD95"), ("masd", "mean surface distance")):
        lines += ["", f"## {title}, mean ± std [95 % CI]", ""]
        rows = [[f"{name} ({s['units']})"] + [cell(stat(s, g, metric, st)) for st in STRUCTURES]
                for name, s in zip(names, summaries)]
        lines += table(["run", *structures], rows)
    lines += ["", "## Runs", ""]
    lines += [f"- {name}: trained on `{s['training']['data_dir']}` "
              f"({s['training']['epochs_trained']} epochs, {s['training']['elapsed_minutes']} min), "
              f"tested on `{s['data_dir']}` split `{s['split']}`"
              for name, s in zip(names, summaries)]
    return "\n".join(lines) + "\n"

