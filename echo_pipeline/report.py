"""The pipeline's report: a table shaped like the paper's Table 1 and a real-vs-synthetic figure.

Rows (echo_pipeline/rows.py): one segmentation network per view trained on synthetic images of
that view (tested on that view's real test frames), one trained on all synthetic frames, one on all
real frames, and optionally on real + synthetic frames and on the real frames of a fraction of the
patients with and without synthetic images (tested on all real test frames). Each row is followed
by its ED and ES rows (the same network on the test frames of one phase), as CAMUS publications
report them. Columns: Dice (%) for LV endo, LV epi, LA and their mean, as mean ± std with a 95 %
bootstrap interval over patients, the mean's difference to the all-real row (paired by image,
95 % interval resampling patients), and the published numbers.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from echo_from_noise.contract import SAMPLE_COMBINED_FOLDER, SUMMARY_FILE
from echo_from_noise.files import atomic_path, list_pngs, read_png
from echo_segmentation.metrics import STRUCTURES, metric_column
from echo_segmentation.published import PAPER_TABLE1
from echo_segmentation.report import cell
from echo_segmentation.statistics import bootstrap_interval, describe
from echo_segmentation.evaluation.report import quality_lines

DICE_COLUMNS = tuple(metric_column("dice", s) for s in STRUCTURES)
COLUMNS = (*DICE_COLUMNS, "dice_mean")  # Dice (%) of the three structures and their mean
HEADER = ("LV endo", "LV epi", "LA", "mean")


def dice_rows(metrics_csv: Path) -> list[dict]:
    """The images of a test's metrics.csv: stem, patient, phase, Dice (%) per structure and their mean."""
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    dice = np.array([[float(r[c]) for c in DICE_COLUMNS] for r in rows]) * 100
    return [{"stem": r["stem"], "patient": r["patient"], "phase": r["phase"],
             **dict(zip(DICE_COLUMNS, values)), "dice_mean": mean}
            for r, values, mean in zip(rows, dice, dice.mean(axis=1))]


def difference_cell(rows: list[dict], reference: list[dict] | None, seed: int = 0) -> str:
    """Mean Dice of ``rows`` minus ``reference``'s on the same images, with the 95 % interval of
    resampling patients; '–' when they were not tested on the same images."""
    if reference is None:
        return "–"
    other = {r["stem"]: r["dice_mean"] for r in reference}
    if {r["stem"] for r in rows} != set(other):
        return "–"
    diff = np.array([r["dice_mean"] - other[r["stem"]] for r in rows])
    low, high = bootstrap_interval(diff, [r["patient"] for r in rows], 1000, np.random.default_rng(seed))
    return f"{diff.mean():+.1f} [{low:+.1f}, {high:+.1f}]"


def statistics_cells(rows: list[dict], resamples: int = 1000, seed: int = 0) -> list[str]:
    """'mean ± std [95 % CI]' of each column, by the statistics and cells of echo_segmentation."""
    stats = describe(rows, resamples, seed, COLUMNS)
    return [cell(stats[column]) for column in COLUMNS]


def _published(key: str) -> str:
    values = PAPER_TABLE1.get(key)
    return " | ".join(f"{m:.1f} ± {s:.1f}" for m, s in values) if values else "– | – | – | –"


def training_of(folder: Path) -> dict:
    """The training facts a test result records (epochs trained and planned, early stop)."""
    return json.loads((folder / SUMMARY_FILE).read_text())["training"]


def epochs_text(training: dict) -> str:
    if training.get("stopped_early"):
        return f"{training['epochs_trained']} of {training['epochs_planned']} (stopped early)"
    return str(training["epochs_trained"])


def schedule_notes(trainings: dict[str, dict]) -> list[str]:
    """Lines that warn when rows were not trained with the same schedule, or were cut short."""
    notes = [f"- **{key}: training {t['stopped_early']}**; this row is not comparable with the "
             f"others." for key, t in trainings.items() if t.get("stopped_early")]
    schedules = {(t["preset"], t.get("epochs_planned")) for t in trainings.values()}
    if len(schedules) > 1:
        notes.append("- **The rows were trained with different schedules** "
                     f"({', '.join(f'{p}: {e} epochs' for p, e in sorted(schedules))}).")
    return notes


def generator_text(samples_dir: Path, views: list[str]) -> str:
    """Which model and sampler made the synthetic images (from each view's summary.json)."""
    made = {}
    for view in views:
        path = samples_dir / view / SUMMARY_FILE
        if path.is_file():
            summary = json.loads(path.read_text())
            key = (summary.get("formulation", "ddpm"), summary["sampler"], summary["steps"],
                   summary["nfe_per_image"])
            made.setdefault(key, []).append(view)
    return "; ".join(f"{' '.join(v)}: formulation {f}, sampler {s}, {steps} steps ({nfe} NFE per "
                     f"image)" for (f, s, steps, nfe), v in made.items())


def quality_section(evaluation_dir: Path | None, work: Path) -> list[str]:
    """The quality section from an evaluation folder of echo_segmentation.evaluate_synthetic."""
    path = evaluation_dir / "evaluation.json" if evaluation_dir else None
    if path is None or not path.is_file():
        return []
    figures = (evaluation_dir / "figures").relative_to(work).as_posix()
    lines = quality_lines(json.loads(path.read_text()), figures)
    report = (evaluation_dir / "report.md").relative_to(work).as_posix()
    return lines + [f"Every number, with figures: [{report}]({report}).", ""]


def write_report(results: dict, out: Path, figure: Path | None, settings: str,
                 generator: str = "", evaluation_dir: Path | None = None) -> str:
    """``results`` maps each row (a rows.SegmentationRow) to its test result folder;
    ``generator`` says which model and sampler made the synthetic images; ``evaluation_dir`` holds
    the synthetic set's quality (evaluate_synthetic)."""
    trainings = {row.name: training_of(folder) for row, folder in results.items()}
    tested = {row.name: dice_rows(folder / "metrics.csv") for row, folder in results.items()}
    real = tested.get("real_all_views")
    lines = ["# Synthetic-trained vs real-trained segmentation (Table 1 of Stojanovski et al. 2023)",
             "", "Dice (%) on the real test split: mean ± std [95 % bootstrap CI over patients]; "
             "mean − real: the mean Dice minus that of the network trained on all real frames, on "
             "the same test images [95 % CI resampling patients].", "",
             *([f"Synthetic images made by: {generator}.", ""] if generator else []),
             "| trained on | test images (patients) | epochs | " + " | ".join(HEADER)
             + " | mean − real | paper: " + " | paper: ".join(HEADER) + " |",
             "|---" * (4 + 2 * len(HEADER)) + "|"]
    for row in results:
        for phase in ("", "ED", "ES"):
            rows = [r for r in tested[row.name] if not phase or r["phase"] == phase]
            reference = real and [r for r in real if not phase or r["phase"] == phase]
            if not rows or (phase and len(rows) == len(tested[row.name])):
                continue  # nothing of that phase, or all of it (a per-view row of one phase)
            patients = len({r["patient"] for r in rows})
            name = row.label if not phase else f"&nbsp;&nbsp;{phase} frames"
            epochs = epochs_text(trainings[row.name]) if not phase else ""
            lines.append(f"| {name} | {len(rows)} ({patients}) | {epochs} | "
                         + " | ".join(statistics_cells(rows))
                         + f" | {difference_cell(rows, reference) if row.name != 'real_all_views' else '–'}"
                         + f" | {_published(row.name) if not phase else '– | – | – | –'} |")
    lines.append(f"| CycleGAN, all frames (paper) | – | – | – | – | – | – | – | "
                 f"{_published('cyclegan')} |")
    lines += ["", "Per-view rows are tested on that view's real test frames, the all-frames rows on "
              "every selected view; each ED / ES row is its network on the test frames of that "
              "phase. The few-real rows keep the real (and synthetic) training and validation "
              "images of a share of the patients, chosen by patient. Every row's network is trained "
              "for a fixed number of epochs (never a time limit), so the table does not depend on "
              "machine load; a row with more training images therefore takes more optimisation "
              "steps (real + synthetic: about 3 times its real-only row's), so compare such rows "
              "with a real-only network trained as many steps (docs/pipeline.md).", ""]
    notes = schedule_notes(trainings)
    if notes:
        lines += notes + [""]
    if figure is not None:
        lines += [f"![real vs synthetic]({figure.name})", "",
                  "Each row: real image | synthetic image from the same label map | label overlay "
                  "| label contours.", ""]
    lines += quality_section(evaluation_dir, out.parent)
    lines += ["## Settings", "", settings, ""]
    text = "\n".join(lines)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return text


def real_vs_synthetic_figure(samples_dir: Path, views: list[str], out: Path, per_view: int = 2
                             ) -> Path | None:
    """Stack the first ``combined/`` panels of each view (real | synthetic | overlay | contours)."""
    import matplotlib  # only the figure needs it (about 1 s to import)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(view, p) for view in views
              for p in list_pngs(samples_dir / view / SAMPLE_COMBINED_FOLDER)[:per_view]]
    if not panels:
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.7 * len(panels)), squeeze=False)
    for ax, (view, path) in zip(axes[:, 0], panels):
        ax.imshow(read_png(path, color=True))
        ax.set_title(f"{view}: {path.stem}   (real | synthetic | overlay | contours)", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return out
