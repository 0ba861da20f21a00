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


class CleanImagePrediction:
    """A throw-away formulation: the network predicts the clean image directly from
    x = image + sigma n, ln sigma uniform on [ln 0.01, ln 50] (no option of its own)."""

    @staticmethod
    def make():
        import math

        import torch

        from semantic_diffusion_model.formulations.preconditioned import Preconditioned

        class Toy(Preconditioned):
            name = "toy"
            summary = "a test's clean-image prediction"
            sigma_min, sigma_max = 0.01, 50.0

            def coefficients(self, sigma):
                return (torch.zeros_like(sigma), torch.ones_like(sigma), 1 / (1 + sigma ** 2).sqrt(),
                        sigma.log() / 4)

            def sigma_of_quantile(self, u):
                return torch.exp(math.log(0.01) + u * math.log(50.0 / 0.01))

            def weight(self, sigma):
                return torch.ones_like(sigma)
        return Toy


@pytest.mark.slow  # trains a network for a few seconds: not in the quick tier
def test_a_formulation_registered_by_a_test_trains_and_samples_through_the_programs(
        small_labels, tmp_path, monkeypatch):
    import json

    from semantic_diffusion_model import formulations
    from semantic_diffusion_model.train import main as train_main
    from semantic_diffusion_model.training.checkpoint import load_checkpoint

    monkeypatch.setitem(formulations.FORMULATIONS, "toy", CleanImagePrediction.make())
    out = tmp_path / "toy"
    train_main(["--data-dir", str(small_labels), "--out-dir", str(out), "--formulation", "toy",
                "--image-size", "32", "--model-channels", "16", "--channel-mult", "1", "2",
                "--num-res-blocks", "1", "--attention-resolutions", "16", "--num-head-channels", "8",
                "--norm-groups", "8", "--spade-hidden", "8", "--batch-size", "4", "--max-steps", "2",
                "--no-tensorboard", "--num-workers", "1"])
    state = load_checkpoint(str(out / "checkpoint_0000002.pt"))
    assert state["diffusion_config"]["formulation"] == "toy" and not state["model_config"]["learn_sigma"]
    maps = small_labels / "2CH_ED" / "sector_annotations"
    sample_main(["--checkpoint", str(out / "checkpoint_0000002.pt"), "--maps-dir", str(maps),
                 "--out-dir", str(tmp_path / "samples"), "--sampler", "heun", "--steps", "3",
                 "--num-samples", "2"])
    summary = json.loads((tmp_path / "samples" / "2CH_ED" / "summary.json").read_text())
    assert summary["formulation"] == "toy" and summary["done"] == 2
    with pytest.raises(SystemExit):  # a sampler outside its list is refused
        sample_main(["--checkpoint", str(out / "checkpoint_0000002.pt"), "--maps-dir", str(maps),
                     "--out-dir", str(tmp_path / "ddim"), "--sampler", "ddim", "--num-samples", "2"])


def test_no_code_outside_the_registries_compares_a_formulation_or_sampler_name():
    import re

    from semantic_diffusion_model.formulations import FORMULATIONS
    from semantic_diffusion_model.samplers.registry import SAMPLERS

    repo = Path(__file__).resolve().parent.parent
    names = "|".join(re.escape(name) for name in (*FORMULATIONS, *SAMPLERS))
    # a comparison with, or a look-up in a literal list of, a formulation's or sampler's name
    pattern = re.compile(rf"((==|!=)\s*|\bin\s*\(.*)[\"'](?:{names})[\"']|"
                         rf"[\"'](?:{names})[\"']\s*(==|!=|\bin\b)")
    allowed = repo / "semantic_diffusion_model" / "formulations"
    registries = {repo / "semantic_diffusion_model" / "samplers" / "registry.py"}
    offenders = []
    for package in ("semantic_diffusion_model", "echo_pipeline", "echo_segmentation", "echo_from_noise"):
        for path in (repo / package).rglob("*.py"):
            if allowed in path.parents or path in registries:
                continue
            # (a line about a formulation or sampler: the discretizations share names with them)
            offenders += [f"{path.relative_to(repo)}:{n}" for n, line in
                          enumerate(path.read_text().splitlines(), 1) if pattern.search(line)
                          and re.search(r"formulation|sampler|\bname\b", line)]
    assert not offenders, offenders
