"""The end-to-end pipeline in a reduced form (seconds per stage), so the stages never drift apart."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, subprocess_env

TINY = ["--preset", "smoke", "--views", "2CH_ED", "--no-seg-per-view", "--num-patients", "8",
        "--data-size", "64", "--image-size", "32", "--sdm-steps", "2", "--sdm-batch-size", "2",
        "--sample-steps", "2", "--seg-epochs", "1", "--seg-image-size", "32",
        "--seg-max-minutes", "1"]


def run_pipeline(args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "run_pipeline.py"), *args],
                          env=subprocess_env(), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    result = run_pipeline([*TINY, "--work-dir", str(work)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work, result


def test_pipeline_writes_every_step_and_the_report(pipeline_run):
    work, _ = pipeline_run
    config = json.loads((work / "pipeline_config.json").read_text())
    assert config["image_size"] == 32 and config["sampler"] == "ddpm"  # override and preset value
    assert len(list((work / "0_camus" / "database_nifti").iterdir())) == 8
    real_test = sorted(p.name for p in (work / "1_extract/2CH_ED/images/testing").iterdir())
    synthetic = sorted((work / "3_samples/2CH_ED/samples").iterdir())
    maps = sorted(p for s in ("training", "validation")
                  for p in (work / "2_labels/2CH_ED_augmented/sector_annotations" / s).iterdir())
    assert [p.name for p in synthetic] == sorted(p.name for p in maps)  # one image per map
    seg_test = sorted(p.name for p in (work / "4_segmentation_data/all_views/images/testing").iterdir())
    assert seg_test == real_test  # testing is always real
    for name in ("all_views", "real_all_views"):
        assert (work / "segmentation" / name / "best.pt").is_file()
        rows = (work / "results" / name / "metrics.csv").read_text().strip().splitlines()
        assert len(rows) == 1 + len(real_test)
    report = (work / "report.md").read_text()
    assert "| All synthetic frames |" in report and "| All real frames |" in report
    assert "88.6 ± 5.8" in report  # the published all-SDM-frames row beside ours
    assert (work / "real_vs_synthetic.png").stat().st_size > 1000


def test_rerun_skips_finished_stages(pipeline_run):
    work, _ = pipeline_run
    before = (work / "segmentation/all_views/best.pt").stat().st_mtime_ns
    result = run_pipeline([*TINY, "--work-dir", str(work)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("done before, skipped") == 11
    assert (work / "segmentation/all_views/best.pt").stat().st_mtime_ns == before


def test_changed_stage_command_reruns_only_that_stage(pipeline_run):
    work, _ = pipeline_run
    marker = work / ".stages" / "segmentation_test_real_all_views.json"
    data = json.loads(marker.read_text())
    data["command"] = data["command"] + ["--changed"]
    marker.write_text(json.dumps(data))
    result = run_pipeline([*TINY, "--work-dir", str(work)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("done before, skipped") == 10
    assert "segmentation_test_real_all_views: finished" in result.stdout


def test_bad_camus_dir_is_one_line_error(tmp_path):
    result = run_pipeline(["--camus-dir", str(tmp_path / "missing"), "--work-dir", str(tmp_path / "w")])
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing" in result.stderr


def dry_run(argv, capsys) -> dict[str, str]:
    """The stage lines a --dry-run prints, by stage name."""
    from scripts.run_pipeline import main
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
    assert len(stages) == 24  # 2 x (train, sample) + 6 data sets x (data, train, test) + 2
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
    stages = dry_run([*TINY, "--work-dir", str(work)], capsys)
    assert set(stages.values()) == {"done before, skipped"} and len(stages) == 11
