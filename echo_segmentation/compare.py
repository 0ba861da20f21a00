"""Compare several test runs side by side (for example synthetic-trained vs real-trained).

Reads RESULTS/<run>/summary.json (and metrics.csv) of each folder given and writes Markdown
tables: Dice (%) with 95 % confidence intervals, one row per run, with the published rows of the
paper below; the paired Dice difference of every run to the first one (image by image, patient
bootstrap); HD95 and mean surface distance per structure.

    python -m echo_segmentation.compare results/synthetic results/real --out results/compare.md
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from echo_from_noise.cli import program, required
from echo_from_noise.errors import UserError
from echo_from_noise.files import atomic_path

from .comparison import check_group, render_comparison
from .results_folder import read_summary


@dataclass
class CompareConfig:
    results: tuple[str, ...] = required("result folders written by echo_segmentation.test (each "
                                        "with summary.json)", default=())
    out: Optional[str] = field(default=None, metadata={
        "help": "Markdown file to write (the table is printed in any case)"})
    names: Optional[tuple[str, ...]] = field(default=None, metadata={
        "help": "row names, one per result folder (default: the folder names)"})
    group: str = field(default="all", metadata={
        "help": "image group to compare: all, 2CH, 4CH, ED, ES, 2CH_ED, ..."})


def run(config: CompareConfig) -> None:
    names = list(config.names) if config.names else [Path(r).name for r in config.results]
    if len(names) != len(config.results):
        raise UserError(f"--names has {len(names)} names for {len(config.results)} result folders")
    summaries = [read_summary(r) for r in config.results]
    check_group(list(config.results), summaries, config.group)
    text = render_comparison(list(config.results), summaries, names, config.group)
    if config.out:
        out = Path(config.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            tmp.write_text(text)
    print(text)


main = program(CompareConfig, run, __doc__)


if __name__ == "__main__":
    main()
