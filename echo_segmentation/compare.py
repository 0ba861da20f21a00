"""Compare several test runs side by side (for example synthetic-trained vs real-trained).

Reads RESULTS/<run>/summary.json of each folder given and writes one Markdown table: Dice (%) with
95 % confidence intervals, HD95 and mean surface distance per structure, one row per run, with
the published rows of the paper below.

    python -m echo_segmentation.compare results/synthetic results/real --out results/compare.md
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from data_preparation.cli import UserError, parse_config, run_program
from data_preparation.files import atomic_path

from .metrics import STRUCTURE_NAMES, STRUCTURES, metric_column
from .report import cell, published_rows, table


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


def render(config: CompareConfig, summaries: list[dict], names: list[str]) -> str:
    g = config.group
    structures = [STRUCTURE_NAMES[s] for s in STRUCTURES]
    lines = [f"# Segmentation comparison (images: {g})", "", "## Dice (%), mean ± std [95 % CI]", ""]
    rows = [[f"{name} ({s['groups'][g]['num_images']} images, preset "
             f"{s['training']['preset']})"] + [cell(stat(s, g, 'dice', st), 100) for st in STRUCTURES]
            for name, s in zip(names, summaries)]
    lines += table(["run", *structures], rows + published_rows())
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
