"""The results folder of a segmentation test on real images (docs/data_contract.md, step 5): written
by echo_segmentation.test, read by echo_segmentation.compare.

    metrics.csv    one row per image (segmentation_scores.ROW_COLUMNS)
    summary.json   segmentation_scores.results_summary, undefined numbers as null
    report.md      the summary's tables (report.render_report)
    cases.png, dice_boxplot.png, predictions/<stem>.png (the predicted label maps, optional)
    config.json    the test's configuration (written by segmentation_tester)
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from echo_from_noise.errors import UserError
from echo_from_noise.files import atomic_path, write_csv, write_png

from .figures import case_grid, dice_boxplot
from .report import render_report
from .segmentation_scores import ROW_COLUMNS
from .statistics import nan_to_none

METRICS_FILE, SUMMARY_FILE, REPORT_FILE = "metrics.csv", "summary.json", "report.md"


def write_results(out: Path, rows: list[dict], summary: dict, images: list[np.ndarray],
                  truths: list[np.ndarray], predictions: list[np.ndarray],
                  save_predictions: bool = True) -> None:
    """Every file of the folder ``out`` (rows and label maps in the same order as the images)."""
    if save_predictions:
        for row, prediction in zip(rows, predictions):
            write_png(out / "predictions" / f"{row['stem']}.png", prediction)
    write_csv(out / METRICS_FILE, ROW_COLUMNS, rows, digits=6)
    with atomic_path(out / SUMMARY_FILE) as tmp:
        tmp.write_text(json.dumps(nan_to_none(summary), indent=2) + "\n")
    with atomic_path(out / REPORT_FILE) as tmp:
        tmp.write_text(render_report(summary))
    case_grid(rows, images, truths, predictions, out / "cases.png")
    dice_boxplot(rows, out / "dice_boxplot.png", f"{out.name}: Dice per structure "
                 f"({len(rows)} images)")


def read_summary(folder: str | Path) -> dict:
    """summary.json of a results folder; UserError when it is missing or not a test's summary."""
    path = Path(folder) / SUMMARY_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found (is {folder} a result folder of "
                        f"echo_segmentation.test?)")
    try:
        summary = json.loads(path.read_text())
        summary["groups"]["all"]["metrics"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a summary of echo_segmentation.test ({error})") from None
    return summary


def read_rows(folder: str | Path) -> dict[str, dict]:
    """metrics.csv of a results folder, by image stem (values as the text written)."""
    path = Path(folder) / METRICS_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found")
    with open(path, newline="") as handle:
        return {row["stem"]: row for row in csv.DictReader(handle)}
