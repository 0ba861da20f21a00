"""The data contract between the steps (docs/data_contract.md): views, splits, label encodings.

CAMUS labels: 0 background, 1 LV endocardium (cavity), 2 LV myocardium, 3 left atrium.
Sector maps (the diffusion model's condition): 0 outside the sector, 1 LV cavity, 2 tissue inside
the sector, 3 LV myocardium, 4 left atrium.
"""
from __future__ import annotations

import numpy as np

VIEWS = ("2CH_ED", "2CH_ES", "4CH_ED", "4CH_ES")
SPLITS = ("training", "validation", "testing")

CAMUS_CLASSES = 4
CAMUS_NAMES = {0: "background", 1: "LV endocardium", 2: "LV myocardium", 3: "left atrium"}

SECTOR_CLASSES = 5
SECTOR_OUTSIDE, SECTOR_CAVITY, SECTOR_TISSUE, SECTOR_MYOCARDIUM, SECTOR_ATRIUM = range(5)
SECTOR_NAMES = {0: "outside sector", 1: "LV cavity", 2: "tissue", 3: "LV myocardium",
                4: "left atrium"}

# sector value -> CAMUS value, and CAMUS value -> sector value (inside the sector)
SECTOR_TO_CAMUS = np.array([0, 1, 0, 2, 3], dtype=np.uint8)
CAMUS_TO_SECTOR = np.array([SECTOR_TISSUE, SECTOR_CAVITY, SECTOR_MYOCARDIUM, SECTOR_ATRIUM],
                           dtype=np.uint8)

# display colours (RGB) for label overlays, indexed by sector value
SECTOR_COLOURS = np.array(
    [[0, 0, 0], [220, 50, 50], [90, 90, 90], [50, 200, 80], [60, 120, 230]], dtype=np.uint8
)
CAMUS_COLOURS = SECTOR_COLOURS[[0, 1, 3, 4]]


def sector_to_camus(sector_map: np.ndarray) -> np.ndarray:
    """Convert a sector map (0..4) to CAMUS labels (0..3)."""
    return SECTOR_TO_CAMUS[sector_map]


def camus_to_sector(labels: np.ndarray, sector_mask: np.ndarray) -> np.ndarray:
    """Build a sector map from CAMUS labels and a boolean mask of the ultrasound sector.

    Heart structures keep their class even where they reach outside the mask.
    """
    sector = np.where(sector_mask, SECTOR_TISSUE, SECTOR_OUTSIDE).astype(np.uint8)
    heart = labels > 0
    sector[heart] = CAMUS_TO_SECTOR[labels[heart]]
    return sector


def stem_parts(stem: str) -> dict[str, str]:
    """Split a file stem ``patientNNNN_<VIEW>_<split>[_k]`` into patient, view, phase, split."""
    parts = stem.split("_")
    if len(parts) < 4 or not parts[0].startswith("patient"):
        return {"patient": parts[0], "view": "", "chamber": "", "phase": "", "split": ""}
    return {"patient": parts[0], "view": f"{parts[1]}_{parts[2]}", "chamber": parts[1],
            "phase": parts[2], "split": parts[3] if len(parts) > 3 else ""}
