"""The study's table: one row per finished run (its cost, the saturated pixels of its images, its
Dice with patient-bootstrap intervals), written as nfe_study.csv and nfe_study.md."""
from __future__ import annotations

from pathlib import Path

from echo_from_noise.files import atomic_path, list_pngs, read_json, read_png
from echo_segmentation.statistics import describe

from ..report import COLUMNS, HEADER, dice_rows
from .config import StudyConfig


def seconds_per_image(samples: Path, views: tuple[str, ...]) -> float | None:
    """Mean sampling seconds per image over the views (from each view's summary.json)."""
    values = []
    for view in views:
        path = samples / view / "summary.json"
        if path.is_file():
            value = read_json(path).get("seconds_per_image")
            if value:
                values.append(value)
    return sum(values) / len(values) if values else None


def saturated_percent(samples: Path, views: tuple[str, ...]) -> float | None:
    """Percentage of the pixels inside the scan sector (map != 0) that are 0 or 255 in the
    synthetic images: the few-step artefact of a solver (the real 64 px frames of the study: 1.0 %)."""
    saturated = inside = 0
    for view in views:
        for image_path in list_pngs(samples / view / "samples") if (samples / view / "samples").is_dir() else []:
            image = read_png(image_path)
            sector = read_png(samples / view / "labels" / image_path.name) != 0
            saturated += int(((image == 0) | (image == 255))[sector].sum())
            inside += int(sector.sum())
    return 100.0 * saturated / inside if inside else None


def result_row(run: dict, out: Path, views: tuple[str, ...]) -> dict:
    """The CSV row of a finished run."""
    stats = describe(dice_rows(out / "results" / run["name"] / "metrics.csv"), 1000, 0, COLUMNS)
    seconds = seconds_per_image(out / "samples" / run["name"], views) if run["checkpoint"] else None
    row = {k: run[k] for k in ("name", "label", "checkpoint", "formulation", "sampler", "steps", "nfe")}
    row["seconds_per_image"] = round(seconds, 4) if seconds else ""
    real = not run["checkpoint"]
    saturated = None if real else saturated_percent(out / "samples" / run["name"], views)
    row["saturated_percent"] = "" if saturated is None else round(saturated, 2)
    row["train_steps"] = "" if real else run["train_steps"]
    row["train_gflop"] = "" if real else round(run["train_gflop"], 1)
    row["gflop_per_image"] = "" if real else round(run["nfe"] * run["gflop_per_nfe"] + run["decode_gflop"], 2)
    for column, header in zip(COLUMNS, HEADER):
        key = header.replace(" ", "_").lower()
        s = stats[column]
        row |= {f"dice_{key}": round(s["mean"], 2), f"dice_{key}_ci_low": round(s["ci_low"], 2),
                f"dice_{key}_ci_high": round(s["ci_high"], 2)}
    return row


def write_markdown(rows: list[dict], c: StudyConfig, path: Path) -> None:
    lines = ["# Dice versus NFE", "",
             f"Segmentation harness `{c.seg_preset}`, {c.seg_epochs} epochs for every row, views "
             f"{' '.join(c.views)}, seed {c.seed}; Dice (%) on the real test split, mean "
             "[95 % patient-bootstrap CI].", "",
             "| run | formulation | sampler | train steps | train GFLOP | NFE | GFLOP / image | "
             "s / image | saturated % | " + " | ".join(HEADER) + " |",
             "|---|---|---|---|---|---|---|---|---|" + "---|" * len(HEADER)]
    for r in rows:
        cells = []
        for header in HEADER:
            key = f"dice_{header.replace(' ', '_').lower()}"
            cells.append(f"{r[key]:.1f} [{r[key + '_ci_low']:.1f}, {r[key + '_ci_high']:.1f}]")
        train = f"{float(r['train_gflop']):,.0f}".replace(",", " ") if r["train_gflop"] != "" else "–"
        lines.append(f"| {r['name']} | {r['formulation']} | {r['sampler'] or '–'} | "
                     f"{r['train_steps'] or '–'} | {train} | {r['nfe'] or '–'} | "
                     f"{r['gflop_per_image'] or '–'} | {r['seconds_per_image'] or '–'} | "
                     f"{'–' if r['saturated_percent'] == '' else r['saturated_percent']} | "
                     + " | ".join(cells) + " |")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
