"""Bad input to the segmentation programs: one-line error, exit status 2, nothing written."""
from __future__ import annotations

import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from echo_segmentation import compare, test, train
from echo_segmentation.config import TrainConfig, resolve_preset
from echo_segmentation.model import build_network, save_checkpoint
from echo_from_noise.cli import config_to_dict
from tests.conftest import REPO, subprocess_env

TINY = ["--channels", "4", "8", "--strides", "2", "--num-res-units", "0", "--image-size", "32",
        "--epochs", "1"]


def dataset(small_extract, root, view="2CH_ED"):
    """A copy of one view of the small extraction (a step-4 style dataset folder)."""
    shutil.copytree(small_extract / view, root)
    return root


def expect_error(program, argv, capsys, *words):
    with pytest.raises(SystemExit) as exit_info:
        program.main(argv)
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error:") and "\n" not in message, message
    for word in words:
        assert word in message, message


@pytest.fixture
def checkpoint(tmp_path):
    config = resolve_preset(TrainConfig(data_dir="d", out_dir="o", channels=(4, 8), strides=(2,),
                                        num_res_units=0, image_size=32))
    path = tmp_path / "model.pt"
    save_checkpoint(path, config=config_to_dict(config), normalisation={"mean": 0.2, "std": 0.2},
                    model=build_network(config).state_dict(), epoch=1, elapsed_s=1.0,
                    best_dice=0.1, best_epoch=1, history=[], optimizer={})
    return path


def test_training_input_errors(small_extract, tmp_path, capsys):
    out = tmp_path / "run"
    empty = tmp_path / "empty"
    (empty / "images" / "training").mkdir(parents=True)
    expect_error(train, ["--data-dir", str(empty), "--out-dir", str(out), *TINY], capsys,
                 "no images in the 'training' split")

    lonely = dataset(small_extract, tmp_path / "lonely")
    victim = sorted((lonely / "annotations" / "training").iterdir())[0]
    victim.unlink()
    expect_error(train, ["--data-dir", str(lonely), "--out-dir", str(out), *TINY], capsys,
                 victim.stem, "no annotation")

    bad_labels = dataset(small_extract, tmp_path / "bad_labels")
    victim = sorted((bad_labels / "annotations" / "validation").iterdir())[0]
    labels = cv2.imread(str(victim), cv2.IMREAD_UNCHANGED)
    labels[0, 0] = 7
    cv2.imwrite(str(victim), labels)
    expect_error(train, ["--data-dir", str(bad_labels), "--out-dir", str(out), *TINY], capsys,
                 str(victim), "outside 0..3")

    expect_error(train, ["--data-dir", str(small_extract / "2CH_ED"), "--out-dir", str(out),
                         *TINY, "--strides", "2", "2"], capsys, "--strides")
    expect_error(train, ["--data-dir", str(small_extract / "2CH_ED"), "--out-dir", str(out),
                         *TINY, "--image-size", "33"], capsys, "not divisible")
    assert not out.exists()


def test_testing_input_errors(small_extract, checkpoint, tmp_path, capsys):
    out = tmp_path / "results"
    args = ["--out-dir", str(out), "--checkpoint", str(checkpoint)]

    other = tmp_path / "other.pt"
    torch.save({"model": {}}, other)
    expect_error(test, ["--data-dir", str(small_extract), "--out-dir", str(out),
                        "--checkpoint", str(other)], capsys, str(other), "not an echo_segmentation")

    mismatched = dataset(small_extract, tmp_path / "mismatched")
    victim = sorted((mismatched / "images" / "testing").iterdir())[0]
    cv2.imwrite(str(victim), np.zeros((48, 64), np.uint8))
    expect_error(test, ["--data-dir", str(mismatched), *args], capsys, victim.stem, "differs")

    lonely = dataset(small_extract, tmp_path / "lonely")
    victim = sorted((lonely / "images" / "testing").iterdir())[0]
    victim.unlink()
    expect_error(test, ["--data-dir", str(lonely), *args], capsys, victim.stem, "no image")

    expect_error(test, ["--data-dir", str(small_extract), *args, "--batch-size", "0"], capsys,
                 "--batch-size must be at least 1")
    expect_error(test, ["--data-dir", str(tmp_path / "nowhere"), *args], capsys, "not found")
    expect_error(test, ["--data-dir", str(tmp_path), *args], capsys, "neither images/")
    expect_error(test, ["--data-dir", str(small_extract / "2CH_ED"), "--views", "4CH_ED", *args],
                 capsys, "--views")
    assert not out.exists()


@pytest.mark.slow
def test_help_and_command_line_exit_status(small_extract, tmp_path, capsys):
    """--help documents every option; run as a program, a bad input exits 2 with one line."""
    for program, options in ((train, ["--preset", "--max-minutes", "--loss", "--resume"]),
                             (test, ["--checkpoint", "--views", "--bootstrap"]),
                             (compare, ["--results", "--names", "--out"])):
        with pytest.raises(SystemExit) as exit_info:
            program.main(["--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        for option in options:
            assert option in text, (program.__name__, option)
    result = subprocess.run(
        [sys.executable, "-m", "echo_segmentation.test", "--checkpoint", str(tmp_path / "x.pt"),
         "--data-dir", str(small_extract), "--out-dir", str(tmp_path / "out")],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'x.pt'}: checkpoint not found"]
    assert not (tmp_path / "out").exists()
