"""The global random generators of a training process: seeded at the start of a run, their states
stored in each checkpoint and restored on resume, so that a resumed run repeats an uninterrupted one.
"""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_global_generators(seed: int) -> None:
    """Seed torch's, numpy's and Python's global generators from --seed at the start of a run, so
    that the states a checkpoint stores (rng_states) are the same in every run of a command,
    resumed or not."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def rng_states() -> dict:
    """The torch, numpy and python RNG states as plain, weights_only-loadable values."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    states = {"torch": torch.get_rng_state(),
              "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                        "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
              "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64),
                         "gauss_next": gauss_next}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np_state = states["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    py = states["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])
