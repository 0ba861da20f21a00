"""Samplers own their options: the programs' sampler options come from the samplers' declarations,
an option the chosen sampler does not read is refused in one line, and what shaped the images is
recorded in sample_config.json."""
from __future__ import annotations

import dataclasses
import json
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from echo_pipeline.run_pipeline import main as pipeline_main
from semantic_diffusion_model.sample import main as sample_main
from semantic_diffusion_model.samplers import registry
from semantic_diffusion_model.samplers.options import sampler_config_class

from .conftest import expect_user_error

OLD = Path(__file__).parent / "data" / "formulation_checkpoints"  # tiny checkpoints, 2 maps


def sample(tmp_path, formulation, *options):
    sample_main(["--checkpoint", str(OLD / f"{formulation}.pt"), "--maps-dir", str(OLD / "maps"),
                 "--out-dir", str(tmp_path), *options])
    return json.loads(next(tmp_path.rglob("sample_config.json")).read_text())["generation"]


@pytest.mark.parametrize("formulation,options,flag", [
    ("ddpm", ["--sampler", "heun", "--eta", "0.5"], "--eta"),
    ("ddpm", ["--sampler", "ddpm", "--steps", "3", "--discretization", "vp"], "--discretization"),
    ("edm", ["--sampler", "dpm-solver++", "--rho", "3"], "--rho"),  # uniform in log sigma
    ("edm", ["--sampler", "euler", "--heun-max-ratio", "2"], "--heun-max-ratio"),
])
def test_an_option_the_sampler_does_not_read_is_refused(tmp_path, capsys, formulation, options, flag):
    line = expect_user_error(sample_main, ["--checkpoint", str(OLD / f"{formulation}.pt"), "--maps-dir",
                                           str(OLD / "maps"), "--out-dir", str(tmp_path / "out"),
                                           *options], capsys, flag, "not read by sampler")
    assert "its options:" in line
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_the_options_a_sampler_reads_are_recorded_and_no_others(tmp_path):
    heun = sample(tmp_path / "heun", "edm", "--sampler", "heun", "--steps", "3", "--s-churn", "0.5")
    assert heun["s_churn"] == 0.5 and heun["heun_max_ratio"] == 4.0 and heun["rho"] == 7.0
    assert "eta" not in heun and "dpm_spacing" not in heun
    ddim = sample(tmp_path / "ddim", "ddpm", "--sampler", "ddim", "--steps", "3", "--eta", "0.5")
    assert ddim["eta"] == 0.5 and "discretization" not in ddim and "heun_max_ratio" not in ddim
    dpm = sample(tmp_path / "dpm", "edm", "--sampler", "dpm-solver++", "--steps", "3")
    assert {"dpm_spacing", "discretization", "sigma_min", "sigma_max"} <= set(dpm) and "rho" not in dpm


def test_a_registered_sampler_brings_its_option_to_the_configuration(monkeypatch):
    @dataclass
    class Options:
        wobble: float = field(default=0.5, metadata={"help": "how much it wobbles"})

    fake = types.SimpleNamespace(NAME="wobbly", SUMMARY="a fake sampler", DEFAULT_STEPS=3,
                                 OPTIONS=(Options,), nfe=lambda steps: steps)
    monkeypatch.setitem(registry.SAMPLERS, "wobbly", fake)
    fields = {f.name: f for f in dataclasses.fields(sampler_config_class())}
    assert fields["wobble"].default == 0.5
    assert fields["wobble"].metadata["help"] == "wobbly: how much it wobbles"
    assert fields["eta"].metadata["help"].startswith("ddim: ")


def test_the_pipeline_refuses_an_unread_sampler_option_before_writing(tmp_path, capsys):
    work = tmp_path / "work"
    expect_user_error(pipeline_main, ["--work-dir", str(work), "--formulation", "ddpm", "--sampler",
                                      "ddpm", "--eta", "0.3"], capsys, "--eta", "not read by sampler ddpm")
    assert not work.exists()
