"""The realism floor: real frames the feature network never learnt from, against real test frames.

The feature network is the real-trained segmenter. Its training frames (and its validation frames,
which chose its checkpoint) lie close to what it learnt, so they make no floor: a set it never saw
does. The floor therefore splits the real test patients into two halves at random, by patient
(never by frame): half A stands for a set to judge and half B is the reference, and the synthetic
set is compared with that same half B. Every draw of the equal-N realism (evaluation.realism)
makes its own split.

Before anything trains, the test patients are checked against the patients the feature network
learnt from: the training and validation splits of its checkpoint's data_dir (or of the extraction
it is about to be trained on). A patient in both is an error.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from echo_from_noise.contract import stem_parts
from echo_from_noise.errors import UserError

from ..data import list_pairs

LEARNT_SPLITS = ("training", "validation")


def learnt_patients(data_dir: str | Path) -> set[str] | None:
    """The patients of the training and validation splits of a segmentation data folder (either
    layout of echo_segmentation.data); None when the folder is not here (a checkpoint trained
    elsewhere)."""
    if not Path(data_dir).is_dir():
        return None
    patients: set[str] = set()
    for split in LEARNT_SPLITS:
        try:
            pairs = list_pairs(data_dir, split)
        except UserError:  # a data set without this split
            continue
        patients |= {stem_parts(p.stem)["patient"] for p in pairs}
    return patients


def check_unseen(test_patients: list[str], learnt: set[str] | None, network: str) -> str:
    """A line for evaluation.json saying whether the test frames are unseen by the feature network
    (UserError naming ``network`` when it learnt from a test patient)."""
    if learnt is None:
        return f"not verified: the data {network} was trained on is not here"
    both = sorted(set(test_patients) & learnt)
    if both:
        raise UserError(f"{network}: trained on test patient(s) {' '.join(both[:3])}"
                        f"{' ...' if len(both) > 3 else ''}; the realism floor and every real "
                        "reference need test frames the feature network never saw")
    return "verified: no test patient is among the feature network's training and validation patients"


def split_halves(patients: list[str], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the frames of a random half of the patients (A) and of the others (B)."""
    names = np.unique(np.asarray(patients))
    if len(names) < 2:
        raise ValueError(f"the floor splits the test patients in two: need 2, got {len(names)}")
    half = set(rng.permutation(names)[:len(names) // 2])
    a = np.array([i for i, p in enumerate(patients) if p in half], dtype=int)
    b = np.array([i for i, p in enumerate(patients) if p not in half], dtype=int)
    return a, b
