"""What a test of a trained segmenter on real images reports: one row per image (its identity and
its metrics, echo_segmentation.metrics, at the pixel spacing), the training run behind the
checkpoint, and summary.json's content. The program: echo_segmentation.test."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from echo_from_noise.cli import config_to_dict
from echo_from_noise.contract import stem_parts

from .config import TrainConfig
from .data import read_spacing
from .metrics import STRUCTURES, image_metrics, metric_column
from .model import newest_state, stop_note
from .statistics import COLUMNS, summarise

ID_COLUMNS = ["stem", "patient", "view", "phase"]
ROW_COLUMNS = ID_COLUMNS + COLUMNS  # metrics.csv


def identity(stem: str) -> dict[str, str]:
    parts = stem_parts(stem)
    return {"stem": stem, "patient": parts["patient"], "view": parts["chamber"],
            "phase": parts["phase"]}


def spacing_for(stems: list[str], data_dir: str) -> dict[str, list[float]] | None:
    """Pixel spacing per stem when every test image has one, else None (distances in pixels)."""
    spacing = read_spacing(data_dir)
    if not spacing:
        return None
    missing = [s for s in stems if s not in spacing]
    if missing:
        print(f"warning: spacing.json has no spacing for {len(missing)} of {len(stems)} images "
              f"(e.g. {missing[0]}); distances are reported in pixels")
        return None
    return {s: [float(v) for v in spacing[s]] for s in stems}


def score_images(stems: list[str], predictions: list[np.ndarray], truths: list[np.ndarray],
                 spacing: dict[str, list[float]] | None) -> list[dict]:
    """One row per image (``ROW_COLUMNS``): its identity and the metrics of its prediction against
    its ground truth, distances in mm with ``spacing``, else in pixels."""
    return [{**identity(stem), **image_metrics(pred, truth, spacing[stem] if spacing else None)}
            for stem, pred, truth in tqdm(list(zip(stems, predictions, truths)), desc="metrics",
                                          leave=False)]


def training_length(path: str, checkpoint: dict) -> dict:
    """Epochs of the whole run (from last.pt beside the checkpoint when present), its planned
    epochs, and a note when a safety limit or a kill ended it early."""
    checkpoint = newest_state(path, checkpoint)
    epochs = checkpoint["config"]["epochs"]
    return {"epochs_trained": checkpoint["epoch"], "epochs_planned": epochs,
            "stopped_early": stop_note(checkpoint["epoch"], epochs, checkpoint.get("stopped_by")),
            "elapsed_minutes": round(checkpoint["elapsed_s"] / 60, 2)}


def results_summary(config, out: Path, spacing: dict | None, rows: list[dict],
                    train_config: TrainConfig, checkpoint: dict) -> dict:
    """summary.json of a test run: what was tested, the training run, missed structures and the
    grouped statistics (echo_segmentation.statistics.summarise) of ``rows``."""
    return {
        "name": out.name, "checkpoint": str(config.checkpoint), "data_dir": str(config.data_dir),
        "split": config.split, "units": "mm" if spacing else "px",
        "bootstrap_resamples": config.bootstrap, "seed": config.seed,
        "training": {"preset": train_config.preset, "data_dir": train_config.data_dir,
                     **training_length(config.checkpoint, checkpoint),
                     "checkpoint_epoch": checkpoint["epoch"],
                     "best_validation_dice": checkpoint["best_dice"],
                     "config": config_to_dict(train_config)},
        "missed": {s: sum(1 for r in rows if math.isnan(r[metric_column("hd", s)])
                          and r[metric_column("dice", s)] == 0) for s in STRUCTURES},
        "groups": summarise(rows, config.bootstrap, config.seed),
    }
