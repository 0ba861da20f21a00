"""Per-image segmentation metrics of the three CAMUS structures (MONAI implementations).

Structures: LV endocardium = label 1, LV epicardium = labels 1 and 2 together, left atrium = label 3.
Metrics: Dice, 95th-percentile and maximum symmetric Hausdorff distance, and mean symmetric surface
distance, in pixels or in mm when the pixel spacing (row_mm, col_mm) is given. A structure missing
from the prediction or the ground truth has undefined (NaN) distances (and Dice 0, or 1 when both
miss it).
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import torch
from monai.metrics import compute_dice
from monai.metrics.utils import get_edge_surface_distance

STRUCTURES: dict[str, tuple[int, ...]] = {"lv_endo": (1,), "lv_epi": (1, 2), "la": (3,)}
STRUCTURE_NAMES = {"lv_endo": "LV endo", "lv_epi": "LV epi", "la": "LA"}
METRICS = ("dice", "hd95", "hd", "masd")
METRIC_NAMES = {"dice": "Dice", "hd95": "HD95", "hd": "Hausdorff (max)",
                "masd": "mean surface distance"}


def structure_masks(labels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Label maps (N, H, W) -> boolean masks (N, 3, H, W), one channel per structure."""
    labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
    if labels.ndim == 2:
        labels = labels[None]
    masks = [torch.isin(labels, torch.tensor(values, dtype=labels.dtype))
             for values in STRUCTURES.values()]
    return torch.stack(masks, dim=1)


def dice_scores(prediction: np.ndarray | torch.Tensor, truth: np.ndarray | torch.Tensor
                ) -> torch.Tensor:
    """Dice per image and structure, (N, 3); both maps empty counts as 1."""
    return compute_dice(structure_masks(prediction).float(), structure_masks(truth).float(),
                        include_background=True, ignore_empty=False)


def metric_column(metric: str, structure: str) -> str:
    return f"{metric}_{structure}"


def surface_metrics(pred: torch.Tensor, true: torch.Tensor,
                    spacing: Sequence[float] | None) -> dict[str, float]:
    """HD95, HD and mean surface distance of two binary masks, as MONAI computes them.

    One call of MONAI's edge-distance routine serves all three (its compute_hausdorff_distance
    and compute_average_surface_distance would each repeat it): the symmetric Hausdorff distance
    is the larger of the two directed ones (each the 95th percentile or the maximum of the
    distances from one edge to the other), the mean surface distance averages both directions.
    """
    if not pred.any() or not true.any():
        return {"hd95": math.nan, "hd": math.nan, "masd": math.nan}
    _, (forward, backward), _ = get_edge_surface_distance(
        pred, true, distance_metric="euclidean", spacing=spacing, symmetric=True,
        warn_empty=False)
    forward, backward = forward.double(), backward.double()
    return {
        "hd95": float(max(torch.quantile(forward, 0.95), torch.quantile(backward, 0.95))),
        "hd": float(max(forward.max(), backward.max())),
        "masd": float(torch.cat([forward, backward]).mean()),
    }


def image_metrics(prediction: np.ndarray, truth: np.ndarray,
                  spacing: Sequence[float] | None = None) -> dict[str, float]:
    """All metrics of one image: {"dice_lv_endo": ..., "hd95_la": ..., ...}."""
    pred, true = structure_masks(prediction), structure_masks(truth)
    dice = compute_dice(pred.float(), true.float(), include_background=True, ignore_empty=False)
    spacing = [float(v) for v in spacing] if spacing is not None else None
    row = {}
    for i, structure in enumerate(STRUCTURES):
        row[metric_column("dice", structure)] = float(dice[0, i])
        with warnings.catch_warnings():
            # MONAI 1.6 warns about a deprecated argument it passes to itself
            warnings.simplefilter("ignore", FutureWarning)
            distances = surface_metrics(pred[0, i], true[0, i], spacing)
        row.update({metric_column(m, structure): v for m, v in distances.items()})
    return row
