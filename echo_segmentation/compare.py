"""Compare several test runs side by side (for example synthetic-trained vs real-trained).

Reads RESULTS/<run>/summary.json (and metrics.csv) of each folder given and writes Markdown
tables: Dice (%) with 95 % confidence intervals, one row per run, with the published rows of the
paper below; the paired Dice difference of every run to the first one (image by image, patient
bootstrap); HD95 and mean surface distance per structure.

    python -m echo_segmentation.compare results/synthetic results/real --out results/compare.md
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from echo_from_noise.cli import parse_config, run_program
from echo_from_noise.errors import UserError
from echo_from_noise.files import atomic_path

from .metrics import STRUCTURE_NAMES, STRUCTURES, metric_column
from .report import cell, published_rows, table
from .statistics import bootstrap_interval


@dataclass
class CompareConfig:
    results: tuple[str, ...] = field(default=(), metadata={
        "help": "result folders written by echo_segmentation.test (each with summary.json)",
        "required": True})
    out: Optional[str] = field(default=None, metadata={
        "help": "Markdown file to write (the table is printed in any case)"})
    names: Optional[tuple[str, ...]] = field(default=None, metadata={
        "help": "row names, one per result folder (default: the folder names)"})
    group: str = field(default="all", metadata={
        "help": "image group to compare: all, 2CH, 4CH, ED, ES, 2CH_ED, ..."})


def read_summary(folder: str | Path) -> dict:
    path = Path(folder) / "summary.json"
    if not path.is_file():
        raise UserError(f"{path}: not found (is {folder} a result folder of "
                        f"echo_segmentation.test?)")
    try:
        summary = json.loads(path.read_text())
        summary["groups"]["all"]["metrics"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a summary of echo_segmentation.test ({error})") from None
    return summary


def stat(summary: dict, group: str, metric: str, structure: str) -> dict:
    value = summary["groups"][group]["metrics"][metric_column(metric, structure)]
    return {k: math.nan if v is None else v for k, v in value.items()}


def read_rows(folder: str | Path) -> dict[str, dict]:
    """metrics.csv of a result folder, by image stem."""
    path = Path(folder) / "metrics.csv"
    if not path.is_file():
        raise UserError(f"{path}: not found")
    with open(path, newline="") as handle:
        return {row["stem"]: row for row in csv.DictReader(handle)}


def paired_differences(folders: list[str], names: list[str], group: str, seed: int = 0
                       ) -> list[str]:
    """Dice of each run minus the first run's, image by image (95 % CI resampling patients).

    Paired differences are far more sensitive than comparing two separate intervals; they need
    both runs tested on the same images.
    """
    first = read_rows(folders[0])
    rows = []
    for folder, name in zip(folders[1:], names[1:]):
        other = read_rows(folder)
        stems = sorted(s for s in first if group in (
            "all", first[s]["view"], first[s]["phase"], f"{first[s]['view']}_{first[s]['phase']}"))
        if not stems or any(s not in other for s in stems):
            rows.append([f"{name} - {names[0]}"] + ["different test images"] * len(STRUCTURES))
            continue
        patients = [first[s]["patient"] for s in stems]
        cells = []
        for structure in STRUCTURES:
            column = metric_column("dice", structure)
            diff = 100 * np.array([float(other[s][column]) - float(first[s][column]) for s in stems])
            low, high = bootstrap_interval(diff, patients, 1000, np.random.default_rng(seed))
            cells.append(f"{diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]")
        rows.append([f"{name} - {names[0]}"] + cells)
    return rows


def render(config: CompareConfig, summaries: list[dict], names: list[str]) -> str:
    g = config.group
    structures = [STRUCTURE_NAMES[s] for s in STRUCTURES]
    lines = [f"# Segmentation comparison (images: {g})", "", "## Dice (%), mean ± std [95 % CI]", ""]
    rows = [[f"{name} ({s['groups'][g]['num_images']} images, preset "
             f"{s['training']['preset']})"] + [cell(stat(s, g, 'dice', st), 100) for st in STRUCTURES]
            for name, s in zip(names, summaries)]
    lines += table(["run", *structures], rows + published_rows())
    if len(summaries) > 1:
        lines += ["", f"## Paired Dice difference to {names[0]} (percentage points, same images, "
                  "95 % CI resampling patients)", ""]
        lines += table(["runs", *structures], paired_differences(
            list(config.results), names, g))
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


def run(config: CompareConfig) -> None:
    names = list(config.names) if config.names else [Path(r).name for r in config.results]
    if len(names) != len(config.results):
        raise UserError(f"--names has {len(names)} names for {len(config.results)} result folders")
    summaries = [read_summary(r) for r in config.results]
    for folder, summary in zip(config.results, summaries):
        if config.group not in summary["groups"]:
            raise UserError(f"{folder}/summary.json: no image group {config.group!r} "
                            f"(has {sorted(summary['groups'])})")
    text = render(config, summaries, names)
    if config.out:
        out = Path(config.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            tmp.write_text(text)
    print(text)


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run(parse_config(CompareConfig, argv, __doc__)))


if __name__ == "__main__":
    main()
