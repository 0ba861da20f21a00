"""Formulations are objects in one registry: checkpoints written before the registry sample the same
images, and a formulation registered by a test alone trains and samples through the real programs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semantic_diffusion_model.sample import main as sample_main

OLD = Path(__file__).parent / "data" / "formulation_checkpoints"  # written by make.py there


def old_cases() -> list[tuple[str, str, int]]:
    keys = np.load(OLD / "images.npz").files
    return sorted({tuple(k.split("/")[:3]) for k in keys})


@pytest.mark.parametrize("formulation,sampler,steps", old_cases(),
                         ids=lambda v: str(v))
def test_checkpoints_of_each_formulation_sample_as_before(formulation, sampler, steps, tmp_path):
    expected = np.load(OLD / "images.npz")
    sample_main(["--checkpoint", str(OLD / f"{formulation}.pt"), "--maps-dir", str(OLD / "maps"),
                 "--out-dir", str(tmp_path), "--sampler", sampler, "--steps", str(steps)])
    pngs = sorted(tmp_path.rglob("samples/*.png"))
    assert len(pngs) == 2
    for png in pngs:
        want = expected[f"{formulation}/{sampler}/{steps}/{png.stem}"]
        got = np.asarray(Image.open(png))
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1, png.name
