"""The Dice-versus-NFE study in miniature: every stage on real maps, the table, the figure, resume."""
from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from echo_from_noise.errors import UserError
from echo_pipeline.nfe_study.runs import steps_for
from echo_pipeline.nfe_study.sampler_spec import SamplerSpec
from semantic_diffusion_model.samplers import Process, SamplerConfig
from semantic_diffusion_model.train import main as train_main

from .conftest import REPO, early_run, subprocess_env


def test_budgets_become_the_most_steps_within_them():
    assert [steps_for("heun", n) for n in (1, 5, 10, 20, 35, 100)] == [1, 3, 5, 10, 18, 50]
    assert [steps_for("ddpm", n) for n in (5, 10)] == [5, 10]
    # on a checkpoint's process, with the NFE heun really spends (its Euler steps count once):
    # at 5 NFE and fewer every step is an Euler step
    edm = Process("edm", 0.002, math.inf)
    assert [steps_for("heun", n, edm) for n in (3, 5, 10, 20, 35)] == [3, 5, 7, 11, 20]
    nvlabs = SamplerConfig(heun_euler_below=0.0, heun_max_ratio=0.0)
    assert [steps_for("heun", n, edm, nvlabs) for n in (5, 10, 35)] == [3, 5, 18]


def test_sampler_specs_carry_options_into_the_run():
    spec = SamplerSpec.parse("edm:heun,s_churn=40,clip_denoised=false")
    assert (spec.formulation, spec.sampler, spec.tag) == ("edm", "heun", "heun-s_churn40-clip_denoisedfalse")
    assert spec.arguments() == ["--s-churn", "40", "--no-clip-denoised"]
    assert spec.config().s_churn == 40.0 and spec.config().clip_denoised is False
    for bad, fragment in (("edm:heun,churn=40", "'churn=40' is not option=value"),
                          ("heun,s_churn=lots", "s_churn=lots is not a float"),
                          ("edm:flow", "expected [FORMULATION:]SAMPLER")):
        with pytest.raises(UserError, match=re.escape(fragment)):
            SamplerSpec.parse(bad).config()


def train_tiny_model(labels: Path, out: Path) -> Path:
    train_main(["--data-dir", str(labels), "--views", "2CH_ED", "--out-dir", str(out),
                "--image-size", "64", "--model-channels", "16", "--channel-mult", "1", "2",
                "--num-res-blocks", "1", "--attention-resolutions", "16", "--num-head-channels", "8",
                "--norm-groups", "8", "--spade-hidden", "8", "--batch-size", "2", "--max-steps", "2",
                "--lr", "1e-2", "--no-tensorboard", "--num-workers", "1"])
    return out / "checkpoint_0000002.pt"


def study_command(model: Path, labels: Path, extract: Path, out: Path) -> list[str]:
    return [sys.executable, str(REPO / "scripts" / "study_nfe.py"), "--checkpoints",
            str(model), "--samplers", "ddpm", "heun", "--nfe", "3", "--views", "2CH_ED",
            "--labels-dir", str(labels), "--extract-dir", str(extract),
            "--out-dir", str(out), "--seg-epochs", "1", "--seg-image-size", "32",
            "--sample-batch-size", "12"]


# The study's first run is an early run (tests/conftest.py): its model is trained when the session
# begins and the run goes on in the background beside other tests (its eleven stages spend most of
# their time importing torch, on one core); the test waits for it and checks it as before.
@early_run("study_first_run", "small_labels", "small_extract")
def _study_first_run(folder: Path, inputs: dict) -> tuple[list[str], dict]:
    model = train_tiny_model(inputs["small_labels"], folder / "tiny")
    return study_command(model, inputs["small_labels"], inputs["small_extract"],
                         folder / "study"), {}


@pytest.fixture(scope="module")
def tiny_model(background_runs) -> Path:
    """2 training steps of a tiny SDM at 64 px (the study's checkpoint; trained, not studied,
    when the study test is not selected)."""
    return background_runs.prepare("study_first_run").home / "tiny" / "checkpoint_0000002.pt"


@pytest.fixture(scope="module")
def study_first_run(background_runs) -> subprocess.CompletedProcess:
    return background_runs.result("study_first_run")


@pytest.mark.slow
def test_study_writes_the_table_and_figure_and_resumes(tiny_model, study_first_run):
    first, command = study_first_run, study_first_run.args
    out = Path(command[command.index("--out-dir") + 1])
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    with open(out / "nfe_study.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["name"], r["sampler"], r["steps"], r["nfe"]) for r in rows] == [
        ("real", "", "0", "0"), ("tiny_s2_ddpm_nfe3", "ddpm", "3", "3"),
        ("tiny_s2_heun_nfe3", "heun", "3", "3")]
    for row in rows:
        assert 0 <= float(row["dice_mean_ci_low"]) <= float(row["dice_mean"]) <= float(row["dice_mean_ci_high"]) <= 100
        assert row["formulation"] == ("real" if row["name"] == "real" else "ddpm")
    assert float(rows[1]["seconds_per_image"]) > 0 and rows[0]["seconds_per_image"] == ""
    # the cost axes: 2 training steps of batch 2, every image 3 evaluations of the network
    from semantic_diffusion_model.flops import forward_gflop, training_gflop_per_image
    from semantic_diffusion_model.training.checkpoint import load_model

    model_config = load_model(str(tiny_model))[2]
    assert rows[1]["train_steps"] == "2" and rows[0]["train_gflop"] == ""
    assert float(rows[1]["train_gflop"]) == pytest.approx(4 * training_gflop_per_image(model_config), abs=0.05)
    assert float(rows[1]["gflop_per_image"]) == pytest.approx(3 * forward_gflop(model_config), abs=0.01)
    assert (out / "nfe_study_cost.png").stat().st_size > 1000
    assert 0 <= float(rows[1]["saturated_percent"]) <= 100 and rows[0]["saturated_percent"] == ""
    assert len(list((out / "samples" / "tiny_s2_heun_nfe3" / "2CH_ED" / "samples").glob("*.png"))) == 12
    assert (out / "nfe_study.png").stat().st_size > 1000 and "| tiny_s2_heun_nfe3 |" in (out / "nfe_study.md").read_text()
    # the same command again finds every stage finished
    again = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0 and again.stdout.count("done before, skipped") == 11
    with open(out / "nfe_study.csv", newline="") as f:
        assert list(csv.DictReader(f)) == rows
    # --report-only runs nothing and tabulates what is finished
    (out / "nfe_study.csv").unlink()
    report = subprocess.run([*command, "--report-only"], cwd=REPO, env=subprocess_env(),
                            capture_output=True, text=True, timeout=600)
    assert report.returncode == 0 and "[" not in report.stdout
    with open(out / "nfe_study.csv", newline="") as f:
        assert list(csv.DictReader(f)) == rows


def test_samplers_can_be_restricted_to_a_formulation(tiny_model):
    from echo_pipeline.nfe_study.config import StudyConfig
    from echo_pipeline.nfe_study.runs import runs_of

    config = StudyConfig(checkpoints=(str(tiny_model),), labels_dir="l", extract_dir="e",
                         out_dir="o", samplers=("edm:heun", "ddpm:ddpm", "euler"), nfe=(5,),
                         real_baseline=False)
    assert [r["name"] for r in runs_of(config)] == ["tiny_s2_ddpm_nfe5", "tiny_s2_euler_nfe5"]


@pytest.mark.slow
def test_a_file_that_is_no_checkpoint_is_a_one_line_error(small_labels, small_extract, tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "study_nfe.py"), "--checkpoints",
                             str(bad), "--labels-dir", str(small_labels), "--extract-dir",
                             str(small_extract), "--out-dir", str(tmp_path / "out")],
                            cwd=REPO, env=subprocess_env(), capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and str(bad) in result.stderr
    assert not (tmp_path / "out").exists()
