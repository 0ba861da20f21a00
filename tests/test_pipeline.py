"""The end-to-end pipeline in a reduced form (seconds per stage), so the stages never drift apart."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, early_run, subprocess_env

# every test here runs programs as subprocesses or trains several networks
pytestmark = pytest.mark.slow


TINY = ["--preset", "smoke", "--views", "2CH_ED", "--no-seg-per-view", "--num-patients", "8",
        "--data-size", "64", "--image-size", "32", "--sdm-steps", "2", "--sdm-batch-size", "2",
        "--sample-steps", "2", "--seg-epochs", "2", "--seg-image-size", "32",
        "--no-real-plus-synthetic", "--real-fractions"]  # (no real + synthetic or few-real rows)
# the smoke pipeline of most tests: with real + synthetic and few-real rows, whose generator is
# trained on those patients alone
ROWS = [*TINY[:-2], "--real-plus-synthetic", "--real-fractions", "0.25", "--few-real-generator"]
ROWS_STAGES = 25  # data 3, diffusion 2, few-real 4, 5 data sets x (data, train, test), evaluation

# Installed as sitecustomize.py, it makes every Python process of a run see its elapsed-time clocks
# run 1000 times fast, as on a machine 1000 times slower or busier (wall time is left alone: file
# times are compared with it).
SLOW_MACHINE = """
import time
def _fast(clock, start):
    return lambda: start + (clock() - start) * 1000.0
time.monotonic = _fast(time.monotonic, time.monotonic())
time.perf_counter = _fast(time.perf_counter, time.perf_counter())
"""


def pipeline_command(args) -> list[str]:
    return [sys.executable, str(REPO / "scripts" / "run_pipeline.py"), *args]


def slow_machine_env(clock_dir: Path) -> dict[str, str]:
    """PYTHONPATH with SLOW_MACHINE installed as sitecustomize.py in ``clock_dir``."""
    clock_dir.mkdir(exist_ok=True)
    (clock_dir / "sitecustomize.py").write_text(SLOW_MACHINE)
    return {"PYTHONPATH": str(clock_dir) + os.pathsep + subprocess_env()["PYTHONPATH"]}


def run_pipeline(args):
    return subprocess.run(pipeline_command(args), env=subprocess_env(), capture_output=True,
                          text=True, timeout=600)


# The three whole pipelines of this module are early runs (tests/conftest.py): started one after
# another in the background when the session begins, beside the other tests, since each spends its
# minute mostly importing torch in one stage process after another. The tests wait for them here.
@early_run("pipeline_run")
def _smoke_pipeline(folder: Path, _) -> tuple[list[str], dict]:
    return pipeline_command([*ROWS, "--work-dir", str(folder / "work")]), {}


@early_run("slow_clock_pipeline")
def _smoke_pipeline_on_a_slow_machine(folder: Path, _) -> tuple[list[str], dict]:
    """The same pipeline (less the extra rows) on a (seemingly) 1000 times slower machine."""
    return (pipeline_command([*TINY, "--work-dir", str(folder / "slow")]),
            slow_machine_env(folder / "clock"))


@early_run("latent_pipeline")
def _latent_pipeline(folder: Path, _) -> tuple[list[str], dict]:
    """--latent L64 with an EDM model."""
    return pipeline_command([*TINY, "--work-dir", str(folder / "latent"), "--formulation", "edm",
                             "--latent", "L64", "--vae-epochs", "1"]), {}


def finished(result: subprocess.CompletedProcess) -> Path:
    """The work folder of a pipeline run that must have succeeded."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Path(result.args[result.args.index("--work-dir") + 1])


@pytest.fixture(scope="module")
def pipeline_run(background_runs):
    result = background_runs.result("pipeline_run")
    return finished(result), result


@pytest.fixture(scope="module")
def slow_clock_pipeline(background_runs) -> Path:
    return finished(background_runs.result("slow_clock_pipeline"))


@pytest.fixture(scope="module")
def latent_pipeline(background_runs) -> Path:
    return finished(background_runs.result("latent_pipeline"))


def test_pipeline_writes_every_step_and_the_report(pipeline_run):
    work, _ = pipeline_run
    config = json.loads((work / "pipeline_config.json").read_text())
    assert config["image_size"] == 32 and config["sampler"] == "euler"  # override and preset value
    assert config["formulation"] == "edm"
    assert len(list((work / "0_camus" / "database_nifti").iterdir())) == 8
    real_test = sorted(p.name for p in (work / "1_extract/2CH_ED/images/testing").iterdir())
    synthetic = sorted((work / "3_samples/2CH_ED/samples").iterdir())
    maps = sorted(p for s in ("training", "validation")
                  for p in (work / "2_labels/2CH_ED_augmented/sector_annotations" / s).iterdir())
    # the smoke preset makes two images per map (the second from another seed: <name>_s1)
    assert [p.name for p in synthetic] == sorted(f"{p.stem}{s}.png" for p in maps for s in ("", "_s1"))
    seg_test = sorted(p.name for p in (work / "4_segmentation_data/all_views/images/testing").iterdir())
    assert seg_test == real_test  # testing is always real
    for name in ("all_views", "real_all_views"):
        assert (work / "segmentation" / name / "best.pt").is_file()
        rows = (work / "results" / name / "metrics.csv").read_text().strip().splitlines()
        assert len(rows) == 1 + len(real_test)
    report = (work / "report.md").read_text()
    assert "| All synthetic frames |" in report and "| All real frames |" in report
    assert "88.6 ± 5.8" in report  # the published all-SDM-frames row beside ours
    assert ("Synthetic images made by: 2CH_ED: formulation edm, sampler euler, 2 steps (2 NFE per "
            "image)") in report
    assert (work / "real_vs_synthetic.png").stat().st_size > 1000
    # real + synthetic, and the few-real rows with their ED row and their difference to real only
    for label in ("All real + all synthetic frames", "Real frames of 25 % of the patients",
                  "Real + synthetic frames of 25 % of the patients"):
        line = next(line for line in table(report) if line.startswith(f"| {label} |"))
        assert line.split(" | ")[7].startswith(("+", "-")), line  # mean − real [CI]
    # the test frames are of one phase (2CH_ED): no ED row repeating each all-frames row
    assert "| &nbsp;&nbsp;ED frames |" not in report
    few = json.loads((work / "4_segmentation_data/real_synthetic_patients25_all_views/"
                      "dataset_config.json").read_text())
    everyone = {p.name.split("_")[0] for p in (work / "1_extract/2CH_ED/images/training").iterdir()}
    chosen = set(few["training_patients"])
    assert few["patients"]["training"] == len(chosen) == max(1, round(0.25 * len(everyone)))
    assert chosen < everyone
    # the few-real generator saw only those patients: its own extraction and samples
    few_real = work / "few_real" / "patients25"
    assert {p.name.split("_")[0] for p in (few_real / "1_extract/2CH_ED/images/training").iterdir()} == chosen
    assert {p.name.split("_")[0] for p in (few_real / "3_samples/2CH_ED/samples").iterdir()
            if "_training_" in p.name} == chosen
    assert (few_real / "sdm" / "2CH" / "checkpoint_0000002.pt").is_file()
    # the quality of the synthetic set, judged with the real-trained segmenter
    evaluation = json.loads((work / "evaluation" / "evaluation.json").read_text())
    assert evaluation["segmenter"] == str(work / "segmentation" / "real_all_views" / "best.pt")
    assert evaluation["counts"]["synthetic"] == len(synthetic)
    assert evaluation["diversity"]["maps_with_several_images"] == len(maps)
    assert evaluation["view_classification"]["skipped"].startswith("the synthetic set has one chamber")
    assert "## Quality of the synthetic set" in report and "mask adherence, mean Dice" in report
    assert "(evaluation/report.md)" in report


def table(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith("|")]


def test_report_does_not_depend_on_elapsed_time(pipeline_run, slow_clock_pipeline):
    """The same command on a (seemingly) 1000 times slower machine gives the same table."""
    work, _ = pipeline_run
    slow = table((slow_clock_pipeline / "report.md").read_text())
    # its rows (all synthetic, all real), the CycleGAN row and the quality
    # table are those of the same rows of the pipeline with the extra rows
    ours = table((work / "report.md").read_text())
    cyclegan = next(i for i, line in enumerate(ours) if line.startswith("| CycleGAN"))
    rows = next(i for i, line in enumerate(slow) if line.startswith("| CycleGAN"))
    assert rows == 4 and slow[:rows] == ours[:rows] and slow[rows:] == ours[cyclegan:]
    assert "| All synthetic frames | " in slow[2] and "| 2 |" in slow[2]  # epochs, not time
    assert "stopped" not in "\n".join(slow)


def test_rerun_skips_finished_stages(pipeline_run):
    work, _ = pipeline_run
    before = (work / "segmentation/all_views/best.pt").stat().st_mtime_ns
    result = run_pipeline([*ROWS, "--work-dir", str(work)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("done before, skipped") == ROWS_STAGES
    assert (work / "segmentation/all_views/best.pt").stat().st_mtime_ns == before


def test_changed_stage_command_reruns_only_that_stage(pipeline_run):
    work, _ = pipeline_run
    marker = work / ".stages" / "segmentation_test_real_all_views.json"
    data = json.loads(marker.read_text())
    data["command"] = data["command"] + ["--changed"]
    marker.write_text(json.dumps(data))
    result = run_pipeline([*ROWS, "--work-dir", str(work)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("done before, skipped") == ROWS_STAGES - 1
    assert "segmentation_test_real_all_views: finished" in result.stdout


def test_bad_camus_dir_is_one_line_error(tmp_path):
    result = run_pipeline(["--camus-dir", str(tmp_path / "missing"), "--work-dir", str(tmp_path / "w")])
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing" in result.stderr


def dry_run(argv, capsys) -> dict[str, str]:
    """The stage lines a --dry-run prints, by stage name."""
    from echo_pipeline.run_pipeline import main
    main([*argv, "--dry-run"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "dry run: nothing was run or written"
    return dict(line.split("] ", 1)[1].split(": ", 1) for line in lines[:-1])


def test_paper_dry_run_shows_the_published_settings_and_writes_nothing(camus_dir, tmp_path,
                                                                      capsys):
    work = tmp_path / "paper"
    stages = dry_run(["--preset", "paper", "--camus-dir", str(camus_dir), "--work-dir", str(work)],
                     capsys)
    assert not work.exists()
    # 2 x (train, sample) + 11 data sets x (data, train, test) + 2 + evaluation
    assert len(stages) == 40 and "segmentation_train_real_synthetic_patients10_all_views" in stages
    assert "--size 256" in stages["extract"] and "--num-augment 5" in stages["labels"]
    train = stages["sdm_train_2CH"].split()
    assert train[1:3] == ["-n", "8"] and train[0].endswith("mpiexec")
    assert "--views 2CH_ED --image-size 256 --max-steps 50000" in stages["sdm_train_2CH"]
    assert "--batch-size 12" in stages["sdm_train_4CH"]
    assert "--sampler ddpm --steps 0" in stages["sample_4CH"]  # all 1000 steps
    assert "--preset paper" in stages["segmentation_train_real_all_views"]
    torchrun = dry_run(["--preset", "paper", "--camus-dir", str(camus_dir), "--work-dir", str(work),
                        "--launcher", "torchrun", "--gpus", "4"], capsys)["sample_2CH"]
    assert " --standalone --nproc_per_node 4 -m semantic_diffusion_model.sample" in torchrun


def test_dry_run_of_a_finished_pipeline_skips_every_stage(pipeline_run, capsys):
    work, _ = pipeline_run
    stages = dry_run([*ROWS, "--work-dir", str(work)], capsys)
    assert set(stages.values()) == {"done before, skipped"} and len(stages) == ROWS_STAGES


def test_formulation_and_sampler_options_reach_the_stages(tmp_path, capsys):
    from echo_pipeline.run_pipeline import main
    work = tmp_path / "edm"
    stages = dry_run([*TINY, "--work-dir", str(work), "--formulation", "ddpm"], capsys)
    assert "--formulation ddpm" in stages["sdm_train_2CH"]
    assert "--sampler euler --steps 2" in stages["sample_2CH"]  # the smoke preset's sampler fits
    # the fast preset's dpm-solver++ does not fit a rectified flow: heun instead
    stages = dry_run([*TINY, "--work-dir", str(work), "--preset", "fast", "--gpus", "0",
                      "--sdm-channel-mult", "1", "2", "--formulation", "rflow"], capsys)
    assert "--formulation rflow" in stages["sdm_train_2CH"] and "--sampler heun" in stages["sample_2CH"]
    stages = dry_run([*TINY, "--work-dir", str(work), "--formulation", "vp", "--sampler", "euler",
                      "--discretization", "vp", "--s-churn", "10"], capsys)
    assert "--formulation vp" in stages["sdm_train_2CH"]
    assert all(o in stages["sample_2CH"] for o in ("--sampler euler", "--discretization vp",
                                                   "--s-churn 10.0"))
    assert not work.exists()
    with pytest.raises(SystemExit) as exit_info:
        main([*TINY, "--work-dir", str(work), "--formulation", "edm", "--sampler", "ddim", "--dry-run"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: --sampler ddim does not fit --formulation edm; samplers that do: dpm-solver++, heun, euler")


def test_latent_option_adds_the_autoencoder_stage(tmp_path, capsys):
    from echo_pipeline.run_pipeline import main
    work = tmp_path / "latent"
    stages = dry_run([*TINY, "--work-dir", str(work), "--formulation", "edm", "--latent", "L64"],
                     capsys)
    names = list(stages)
    assert names.index("autoencoder") < names.index("sdm_train_2CH")
    assert "semantic_diffusion_model.train_autoencoder" in stages["autoencoder"]
    assert "--channels 64 128 192" in stages["autoencoder"] and "--epochs 10" in stages["autoencoder"]
    assert f"--autoencoder {work / 'autoencoder' / 'autoencoder.pt'}" in stages["sdm_train_2CH"]


def test_latent_pipeline_runs_every_stage(latent_pipeline):
    """--latent L64 with an EDM model: the autoencoder stage, latent training, decoded samples."""
    work = latent_pipeline
    assert (work / "autoencoder" / "autoencoder.pt").is_file()
    sample_config = json.loads((work / "3_samples" / "2CH_ED" / "sample_config.json").read_text())
    assert sample_config["generation"]["image_size"] == 32 and "autoencoder" in sample_config["generation"]
    report = (work / "report.md").read_text()
    assert "formulation edm, sampler euler, 2 steps (2 NFE per image)" in report
