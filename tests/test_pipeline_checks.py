"""The pipeline checks every stage's options (with the stage programs' own configurations and
checks) and the CAMUS folder before it writes anything; a stage that fails on its inputs leaves no
work folder behind."""
from __future__ import annotations

import gzip
import shutil

import pytest

from echo_pipeline.run_pipeline import main as pipeline_main

from .conftest import expect_user_error


@pytest.mark.parametrize("options,fragments", [
    (["--image-size", "33"], ("stage sdm_train_2CH", "--image-size 33 must be divisible by 4")),
    (["--sdm-steps", "0"], ("stage sdm_train_2CH", "--lr-anneal-steps must be >= 1")),
    (["--seg-epochs", "0"], ("stage segmentation_train_",)),
    (["--num-augment", "-1"], ("stage labels", "--num-augment -1")),
    (["--real-fractions", "1.5"], ("--patient-fraction must be in (0, 1]",)),
])
def test_bad_stage_options_are_refused_before_anything_is_written(tmp_path, capsys, options,
                                                                  fragments):
    work = tmp_path / "work"
    expect_user_error(pipeline_main, ["--work-dir", str(work), *options], capsys, *fragments)
    assert not work.exists()


def test_a_missing_camus_folder_is_refused_before_anything_is_written(tmp_path, capsys):
    work = tmp_path / "work"
    expect_user_error(pipeline_main, ["--work-dir", str(work), "--camus-dir", str(tmp_path / "none")],
                      capsys, str(tmp_path / "none"), "not found")
    assert not work.exists()


@pytest.mark.slow  # runs the extraction stage
def test_a_corrupt_nifti_leaves_no_work_folder(synthetic_camus_dir, tmp_path, capfd):
    camus = tmp_path / "camus"
    shutil.copytree(synthetic_camus_dir, camus)
    victim = sorted((camus / "database_nifti").rglob("*_2CH_ED.nii.gz"))[0]
    data = gzip.compress(gzip.decompress(victim.read_bytes())[:400])  # valid gzip, cut payload
    victim.write_bytes(data)
    work = tmp_path / "work"
    with pytest.raises(SystemExit) as exit_info:
        pipeline_main(["--work-dir", str(work), "--camus-dir", str(camus), "--train-patients", "0"])
    assert exit_info.value.code == 2
    # one error line, the stage's (the stage program's output reaches the terminal directly)
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "stage extract failed" in errors[0], errors
    assert not work.exists()
