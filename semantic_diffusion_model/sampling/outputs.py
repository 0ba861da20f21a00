"""What the sampling program writes for each map (docs/data_contract.md, step 3) and its figures.

    <VIEW>/samples/<name>.png          the synthetic image, uint8 grey
    <VIEW>/labels/<name>.png           its sector map (0..4), at the image size
    <VIEW>/labels_visible/<name>.png   the sector map in colour
    <VIEW>/combined/<name>.png         real image (grey panel when unknown) | synthetic |
                                       label overlay | label contours
    <VIEW>/contact_sheet.png           combined panels of the first maps, for a look at a glance

Every file is written atomically, the sample last; a map counts as done only when all four exist.
While a job generates a map it holds the map's claim, the hidden file <VIEW>/.<name>.png.claim
(semantic_diffusion_model.sampling.work_claims), so that other jobs on the same folder leave it alone.
"""
from __future__ import annotations

import glob
from pathlib import Path

import cv2
import numpy as np
import torch

from echo_from_noise.contract import (CONTACT_SHEET_FILE, SAMPLE_COMBINED_FOLDER,
                                      SAMPLE_LABELS_FOLDER, SAMPLE_LABELS_VISIBLE_FOLDER,
                                      SAMPLE_OUTPUT_FOLDERS, SAMPLES_FOLDER, SECTOR_COLOURS,
                                      png_name)
from echo_from_noise.drawing import HEART_CLASSES, contours
from echo_from_noise.files import read_png, write_png

OUTPUT_FOLDERS = SAMPLE_OUTPUT_FOLDERS  # written in this order: the sample last
NO_IMAGE_GREY = 128
SEPARATOR = 2  # white pixels between panels


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (N, H, W) uint8 (channels averaged: grey)."""
    grey = images.float().mean(dim=1)
    return ((grey + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def colour_labels(label_map: np.ndarray) -> np.ndarray:
    return SECTOR_COLOURS[label_map]


def overlay(grey: np.ndarray, label_map: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """The heart classes blended in colour over the grey image."""
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    heart = np.isin(label_map, HEART_CLASSES)
    rgb[heart] = (1 - alpha) * rgb[heart] + alpha * SECTOR_COLOURS[label_map[heart]]
    return rgb.round().astype(np.uint8)


def combined_panel(real: np.ndarray | None, synthetic: np.ndarray, label_map: np.ndarray) -> np.ndarray:
    """real | synthetic | overlay | contours, side by side (RGB)."""
    if real is None:
        real = np.full_like(synthetic, NO_IMAGE_GREY)
    grey = lambda g: np.repeat(g[..., None], 3, axis=2)  # noqa: E731
    panels = [grey(real), grey(synthetic), overlay(synthetic, label_map), contours(synthetic, label_map)]
    gap = np.full((synthetic.shape[0], SEPARATOR, 3), 255, dtype=np.uint8)
    row = [panels[0]]
    for p in panels[1:]:
        row += [gap, p]
    return np.concatenate(row, axis=1)


def contact_sheet(panels: list[np.ndarray], names: list[str], min_side: int = 128) -> np.ndarray:
    """Combined panels stacked in rows, each under a strip with its map name; small images are
    enlarged (nearest) so that each tile is at least ``min_side`` pixels high."""
    rows = []
    for panel, name in zip(panels, names):
        scale = max(1, -(-min_side // panel.shape[0]))
        panel = cv2.resize(panel, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        strip = np.full((18, panel.shape[1], 3), 255, dtype=np.uint8)
        cv2.putText(strip, name, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        rows += [strip, panel]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


def output_path(view_dir: Path, folder: str, name: str) -> Path:
    return view_dir / folder / png_name(name)


def is_done(view_dir: Path, name: str) -> bool:
    return all(output_path(view_dir, f, name).is_file() for f in OUTPUT_FOLDERS)


CLAIM_PATTERN = ".*.png.claim"


def claim_path(view_dir: Path, name: str) -> Path:
    """The claim file of a map's outputs (all end .png.claim: never another file's name)."""
    return view_dir / f".{name}.png.claim"


def remove_temporaries(view_dir: Path, name: str) -> int:
    """Delete the temporary files of one map's outputs that a killed run left behind. Only the
    holder of the map's claim may call it: another job may be writing them."""
    pattern = f".{glob.escape(name)}.png.*.tmp"  # echo_from_noise.files.atomic_path's names
    stale = [p for folder in OUTPUT_FOLDERS for p in (view_dir / folder).glob(pattern)]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def write_outputs(view_dir: Path, name: str, synthetic: np.ndarray, label_map: np.ndarray,
                  real: np.ndarray | None) -> None:
    """Write the four outputs of one map, the sample last."""
    write_png(output_path(view_dir, SAMPLE_LABELS_FOLDER, name), label_map.astype(np.uint8))
    write_png(output_path(view_dir, SAMPLE_LABELS_VISIBLE_FOLDER, name), colour_labels(label_map))
    write_png(output_path(view_dir, SAMPLE_COMBINED_FOLDER, name),
              combined_panel(real, synthetic, label_map))
    write_png(output_path(view_dir, SAMPLES_FOLDER, name), synthetic)


def write_contact_sheet(view_dir: Path, names: list[str], count: int = 8) -> Path | None:
    """A contact sheet of the first ``count`` finished maps (by name) of a view folder."""
    done = [n for n in sorted(names) if is_done(view_dir, n)][:count]
    if not done:
        return None
    panels = [read_png(output_path(view_dir, SAMPLE_COMBINED_FOLDER, n), color=True) for n in done]
    path = view_dir / CONTACT_SHEET_FILE
    write_png(path, contact_sheet(panels, done))
    return path
