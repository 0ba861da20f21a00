"""The pipeline's report: a table shaped like the paper's Table 1 and a real-vs-synthetic figure.

Rows: one segmentation network per view trained on synthetic images of that view (tested on that
view's real test frames), one trained on all synthetic frames and one on all real frames (tested on
all real test frames). Columns: Dice (%) for LV endo, LV epi, LA and their mean, as mean ± std with a
95 % bootstrap interval over patients, next to the published numbers.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from echo_from_noise.files import atomic_path, list_pngs, read_png
from echo_segmentation.published import PAPER_TABLE1
from echo_segmentation.statistics import bootstrap_interval


DICE_COLUMNS = ("dice_lv_endo", "dice_lv_epi", "dice_la")
HEADER = ("LV endo", "LV epi", "LA", "mean")


def row_statistics(metrics_csv: Path, resamples: int = 1000, seed: int = 0) -> list[dict]:
    """Mean, std and 95 % patient-bootstrap interval of each Dice column and of their mean (in %)."""
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    patients = [r["patient"] for r in rows]
    dice = np.array([[float(r[c]) for c in DICE_COLUMNS] for r in rows]) * 100
    columns = np.concatenate([dice, dice.mean(axis=1, keepdims=True)], axis=1)
    rng = np.random.default_rng(seed)
    stats = []
    for values in columns.T:
        low, high = bootstrap_interval(values, patients, resamples, rng)
        stats.append({"mean": float(np.nanmean(values)), "std": float(np.nanstd(values, ddof=1))
                      if len(values) > 1 else 0.0, "ci_low": low, "ci_high": high,
                      "images": len(values), "patients": len(set(patients))})
    return stats


def _cell(s: dict) -> str:
    return f"{s['mean']:.1f} ± {s['std']:.1f} [{s['ci_low']:.1f}, {s['ci_high']:.1f}]"


def _published(key: str) -> str:
    values = PAPER_TABLE1.get(key)
    return " | ".join(f"{m:.1f} ± {s:.1f}" for m, s in values) if values else "– | – | – | –"


def training_of(folder: Path) -> dict:
    """The training facts a test result records (epochs trained and planned, early stop)."""
    return json.loads((folder / "summary.json").read_text())["training"]


def schedule_notes(trainings: dict[str, dict]) -> list[str]:
    """Lines that warn when rows were not trained with the same schedule, or were cut short."""
    notes = [f"- **{key}: training {t['stopped_early']}**; this row is not comparable with the "
             f"others." for key, t in trainings.items() if t.get("stopped_early")]
    schedules = {(t["preset"], t.get("epochs_planned")) for t in trainings.values()}
    if len(schedules) > 1:
        notes.append("- **The rows were trained with different schedules** "
                     f"({', '.join(f'{p}: {e} epochs' for p, e in sorted(schedules))}).")
    return notes


def write_report(results: dict[str, Path], out: Path, figure: Path | None, settings: str) -> str:
    """``results`` maps a row name (view, all_views, real_all_views) to a test result folder."""
    label = {"all_views": "All synthetic frames", "real_all_views": "All real frames"}
    trainings = {key: training_of(folder) for key, folder in results.items()}
    lines = ["# Synthetic-trained vs real-trained segmentation (Table 1 of Stojanovski et al. 2023)",
             "", "Dice (%) on the real test split: mean ± std [95 % bootstrap CI over patients].", "",
             "| trained on | images (patients) | epochs | " + " | ".join(HEADER) + " | paper: "
             + " | paper: ".join(HEADER) + " |",
             "|---" * (3 + 2 * len(HEADER)) + "|"]
    for key, folder in results.items():
        stats = row_statistics(folder / "metrics.csv")
        name = label.get(key, f"SDM {key}")
        t = trainings[key]
        epochs = (f"{t['epochs_trained']} of {t['epochs_planned']} (stopped early)"
                  if t.get("stopped_early") else str(t["epochs_trained"]))
        lines.append(f"| {name} | {stats[0]['images']} ({stats[0]['patients']}) | {epochs} | "
                     + " | ".join(_cell(s) for s in stats) + f" | {_published(key)} |")
    lines.append(f"| CycleGAN, all frames (paper) | – | – | – | – | – | – | "
                 f"{_published('cyclegan')} |")
    lines += ["", "Per-view rows are tested on that view's real test frames, the all-frames rows on "
              "every selected view. Every row's network is trained for a fixed number of epochs "
              "(never a time limit), so the table does not depend on machine load.", ""]
    notes = schedule_notes(trainings)
    if notes:
        lines += notes + [""]
    if figure is not None:
        lines += [f"![real vs synthetic]({figure.name})", "",
                  "Each row: real image | synthetic image from the same label map | label overlay "
                  "| label contours.", ""]
    lines += ["## Settings", "", settings, ""]
    text = "\n".join(lines)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return text


def real_vs_synthetic_figure(samples_dir: Path, views: list[str], out: Path, per_view: int = 2
                             ) -> Path | None:
    """Stack the first ``combined/`` panels of each view (real | synthetic | overlay | contours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(view, p) for view in views
              for p in list_pngs(samples_dir / view / "combined")[:per_view]]
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
