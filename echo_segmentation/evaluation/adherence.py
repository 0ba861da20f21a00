"""Mask adherence: does a synthetic image show the heart of the map it was generated from?

The segmenter trained on real images labels the synthetic image; its prediction P is compared with
the generating sector map converted to CAMUS labels, T = sector_to_camus(map) (0->0, 1->1, 2->0,
3->2, 4->3), by Dice per structure (echo_segmentation.metrics):

    Dice = 2 |P_s & T_s| / (|P_s| + |T_s|),   s = LV endo {1}, LV epi {1, 2}, LA {3}

(1 when a structure is absent from both). High Dice means the image follows its map closely
enough for a real-trained network to find the map's structures where the map put them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from echo_from_noise.contract import sector_to_camus

from ..metrics import dice_scores


def adherence_dice(predictions: Sequence[np.ndarray], sector_maps: Sequence[np.ndarray]
                   ) -> np.ndarray:
    """Dice (N, 3) of LV endo, LV epi, LA between each prediction (CAMUS 0..3) and its sector map
    (0..4); the two maps of an image must have the same size."""
    if len(predictions) != len(sector_maps):
        raise ValueError(f"{len(predictions)} predictions for {len(sector_maps)} sector maps")
    rows = []
    for i, (prediction, sector_map) in enumerate(zip(predictions, sector_maps)):
        if np.shape(prediction) != np.shape(sector_map):
            raise ValueError(f"image {i}: prediction {np.shape(prediction)} and sector map "
                             f"{np.shape(sector_map)} differ in size")
        truth = sector_to_camus(np.asarray(sector_map))
        rows.append(dice_scores(np.asarray(prediction)[None], truth[None])[0].double().numpy())
    return np.stack(rows) if rows else np.zeros((0, 3))
