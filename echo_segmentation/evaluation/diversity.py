"""Diversity: how different the images drawn from one label map with different seeds are.

The sampling program names the first sample of a map `<map>` and the extra ones `<map>_s<k>`
(k = 1, 2, ...; echo_from_noise.contract.sample_name). For each map with at least two samples, the mean over its pairs i < j of

    feature distance  ||z_i - z_j||   (z = standardised features, evaluation.standardisation)
    1 - SSIM(x_i, x_j)                (images at 64 x 64, evaluation.ssim)

averaged over all pairs of all maps (each pair counts once). Zero means the seed changes nothing.
The scale to read it against: the same quantity for random pairs of different images
(between_image_distance / between_image_ssim), e.g. real images of one view and different
patients; pairs are drawn uniformly (with replacement) among the qualifying pairs i != j.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import torch

from echo_from_noise.contract import map_of_sample

from .ssim import image_stack, paired_ssim, pairwise_ssim
from .standardisation import Standardisation



def seed_groups(names: Sequence[str], views: Sequence[str] | None = None
                ) -> dict[str, list[int]]:
    """Map name -> indices of its samples, for the maps with at least two samples (keyed
    "<view>/<map>" when the images' ``views`` are given: maps of different views never group)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        key = map_of_sample(name)
        groups.setdefault(f"{views[i]}/{key}" if views is not None else key, []).append(i)
    return {key: members for key, members in groups.items() if len(members) >= 2}


def group_pairs(groups: dict[str, list[int]]) -> list[tuple[int, int]]:
    return [pair for members in groups.values() for pair in itertools.combinations(members, 2)]


def within_map_distance(features: np.ndarray, groups: dict[str, list[int]],
                        standardisation: Standardisation) -> float:
    """Mean standardised feature distance between samples of the same map (NaN without groups)."""
    pairs = np.array(group_pairs(groups)).reshape(-1, 2)
    if len(pairs) == 0:
        return float("nan")
    z = standardisation(features)
    return float(np.linalg.norm(z[pairs[:, 0]] - z[pairs[:, 1]], axis=1).mean())


def within_map_ssim(images: Sequence[np.ndarray], groups: dict[str, list[int]], size: int = 64
                    ) -> float:
    """Mean 1 - SSIM between samples of the same map (NaN without groups)."""
    dissimilarities = []
    for members in groups.values():
        stack = image_stack([images[i] for i in members], size)
        similarity = pairwise_ssim(stack, stack)
        upper = np.triu_indices(len(members), k=1)
        dissimilarities += (1 - similarity.numpy()[upper]).tolist()
    return float(np.mean(dissimilarities)) if dissimilarities else float("nan")


def random_pairs(count: int, pairs: int, seed: int, views: Sequence[str] | None = None,
                 patients: Sequence[str] | None = None, rounds: int = 1000) -> np.ndarray:
    """(pairs, 2) random index pairs i != j, uniform over the pairs of one view (when ``views``
    is given) of different patients (when ``patients`` is given)."""
    if count < 2:
        raise ValueError(f"need at least 2 images for pairs, got {count}")
    view = np.asarray(views) if views is not None else np.zeros(count)
    patient = np.asarray(patients) if patients is not None else np.arange(count)
    if not any(len(np.unique(patient[view == v])) >= 2 for v in np.unique(view)):
        raise ValueError("no pair of images of one view and different patients")
    rng = np.random.default_rng(seed)
    kept = np.zeros((0, 2), dtype=np.int64)
    for _ in range(rounds):  # draw pairs i != j uniformly, keep those that qualify
        first = rng.integers(count, size=pairs)
        second = (first + rng.integers(1, count, size=pairs)) % count
        qualify = (view[first] == view[second]) & (patient[first] != patient[second])
        kept = np.concatenate([kept, np.stack([first, second], axis=1)[qualify]])
        if len(kept) >= pairs:
            return kept[:pairs]
    raise ValueError(f"too few qualifying pairs among {count} images")


def between_image_distance(features: np.ndarray, standardisation: Standardisation,
                           seed: int = 0, pairs: int = 2000, *, views: Sequence[str] | None = None,
                           patients: Sequence[str] | None = None) -> float:
    """Mean standardised feature distance between random pairs of different images (of one
    view, of different patients, when these are given)."""
    index = random_pairs(len(features), pairs, seed, views, patients)
    z = standardisation(features)
    return float(np.linalg.norm(z[index[:, 0]] - z[index[:, 1]], axis=1).mean())


def between_image_ssim(images: Sequence[np.ndarray], size: int = 64, seed: int = 0,
                       pairs: int = 2000, *, views: Sequence[str] | None = None,
                       patients: Sequence[str] | None = None) -> float:
    """Mean 1 - SSIM between random pairs of different images (of one view, of different
    patients, when these are given)."""
    index = torch.from_numpy(random_pairs(len(images), pairs, seed, views, patients))
    stack = image_stack(images, size)
    return float(1 - paired_ssim(stack[index[:, 0]], stack[index[:, 1]]).double().mean())
