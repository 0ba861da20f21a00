"""Training and testing the segmentation network on a few real CAMUS patients (small_extract)."""
from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest
import torch

from echo_from_noise.files import read_png
from echo_segmentation import compare, test, train
from echo_segmentation.metrics import image_metrics
from echo_segmentation.model import read_checkpoint

# a tiny network at 32 px: a few seconds per run on one CPU thread
TINY = ["--channels", "4", "8", "16", "--strides", "2", "2", "--num-res-units", "0",
        "--image-size", "32", "--batch-size", "4", "--seed", "3"]


def train_args(data, out, epochs):
    return ["--data-dir", str(data), "--out-dir", str(out), "--epochs", str(epochs), *TINY]


@pytest.fixture(scope="module")
def trained(small_extract, tmp_path_factory):
    """Two epochs uninterrupted, and one epoch then --resume for the second.

    The first leg of the resumed run already has --resume: with no checkpoint yet, it starts.
    """
    root = tmp_path_factory.mktemp("seg_runs")
    train.main(train_args(small_extract, root / "straight", 2))
    train.main(train_args(small_extract, root / "resumed", 1) + ["--resume"])
    train.main(train_args(small_extract, root / "resumed", 2) + ["--resume"])
    return root


def test_training_writes_log_config_and_checkpoints(trained):
    run = trained / "straight"
    config = json.loads((run / "config.json").read_text())
    # explicit options override the preset, the rest comes from it (default preset)
    assert config["channels"] == [4, 8, 16] and config["image_size"] == 32
    assert config["loss"] == "dice_ce" and config["augment"] is True and config["lr"] == 1e-3
    assert config["num_training"] == 16 and config["num_validation"] == 8
    with open(run / "log.csv") as handle:
        log = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in log] == [1, 2]
    assert float(log[1]["lr"]) < float(log[0]["lr"])  # cosine schedule, stepped per epoch
    checkpoint = read_checkpoint(run / "best.pt")
    best = max(log, key=lambda r: float(r["val_dice_mean"]))
    assert checkpoint["epoch"] == int(best["epoch"])
    assert checkpoint["best_dice"] == pytest.approx(float(best["val_dice_mean"]))
    assert set(checkpoint["normalisation"]) == {"mean", "std"}
    assert 0 < checkpoint["normalisation"]["mean"] < 1


def test_resumed_run_equals_uninterrupted_run(trained):
    a = torch.load(trained / "straight" / "last.pt", weights_only=True)
    b = torch.load(trained / "resumed" / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    strip = lambda h: [{k: v for k, v in r.items() if not k.endswith("_s")} for r in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])


def test_rerun_without_resume_and_resume_with_other_settings_are_refused(
        trained, small_extract, capsys):
    run = trained / "straight"
    before = (run / "last.pt").read_bytes()
    for extra in ([], ["--resume", "--lr", "0.01"]):
        with pytest.raises(SystemExit) as exit_info:
            train.main(train_args(small_extract, run, 3) + extra)
        assert exit_info.value.code == 2
        message = capsys.readouterr().err.strip()
        assert message.startswith("error:") and "last.pt" in message and "\n" not in message
    assert (run / "last.pt").read_bytes() == before


@pytest.mark.slow  # trains networks for several seconds: not in the quick tier
def test_testing_writes_metrics_summary_report_and_figures(trained, small_extract):
    out = trained / "results"
    test.main(["--checkpoint", str(trained / "straight" / "best.pt"), "--data-dir",
               str(small_extract), "--out-dir", str(out), "--bootstrap", "100"])
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8  # 2 test patients x 4 views
    assert {(r["view"], r["phase"]) for r in rows} == {("2CH", "ED"), ("2CH", "ES"),
                                                        ("4CH", "ED"), ("4CH", "ES")}
    # the CSV agrees with the metrics of the saved prediction against the ground truth (64 px)
    row = rows[0]
    prediction = read_png(out / "predictions" / f"{row['stem']}.png")
    truth = read_png(small_extract / f"{row['view']}_{row['phase']}" / "annotations" / "testing"
                     / f"{row['stem']}.png")
    assert prediction.shape == truth.shape == (64, 64)
    # distances in mm where the extraction knows the pixel size (the embedded set's headers give
    # one; camus_224's identity affine does not), else in pixels
    spacing = json.loads((small_extract / "spacing.json").read_text()).get(row["stem"])
    expected = image_metrics(prediction, truth, spacing)
    for key in ("dice_lv_endo", "dice_la", "hd95_lv_epi", "masd_la"):
        if not np.isnan(expected[key]):
            assert float(row[key]) == pytest.approx(expected[key], rel=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["units"] == ("mm" if spacing else "px")
    assert summary["groups"]["all"]["num_patients"] == 2
    dice = [float(r["dice_lv_epi"]) for r in rows]
    assert summary["groups"]["all"]["metrics"]["dice_lv_epi"]["mean"] == pytest.approx(
        np.mean(dice), rel=1e-5)
    report = (out / "report.md").read_text()
    assert "88.6" in report and "90.9" in report and "2CH_ES" in report
    for name in ("cases.png", "dice_boxplot.png", "config.json"):
        assert (out / name).stat().st_size > 0

    # one view only, and the comparison of both result folders
    test.main(["--checkpoint", str(trained / "resumed" / "best.pt"), "--data-dir",
               str(small_extract), "--views", "2CH_ED", "--out-dir", str(trained / "one_view"),
               "--bootstrap", "10", "--no-save-predictions"])
    with open(trained / "one_view" / "metrics.csv") as handle:
        assert [r["view"] + r["phase"] for r in csv.DictReader(handle)] == ["2CHED"] * 2
    assert not (trained / "one_view" / "predictions").exists()
    compare.main(["--results", str(out), str(trained / "one_view"), str(out),
                  "--names", "all", "2ch", "again", "--out", str(trained / "compare.md")])
    table = (trained / "compare.md").read_text()
    assert "| all (8 images" in table and "| 2ch (2 images" in table and "79.4" in table
    # paired differences: a run against itself is exactly zero; other test images are flagged
    assert "| again - all | +0.00 [+0.00, +0.00] |" in table
    assert "| 2ch - all | different test images |" in table


@pytest.mark.slow
def test_killed_training_resumes_with_the_same_command(small_extract, tmp_path, capsys):
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO, subprocess_env

    run = tmp_path / "killed"
    argv = train_args(small_extract, run, 12) + ["--resume"]
    process = subprocess.Popen([sys.executable, "-m", "echo_segmentation.train", *argv], cwd=REPO,
                               env=subprocess_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run / "last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = read_checkpoint(run / "last.pt")["epoch"]  # readable: written atomically
    assert 1 <= done < 12
    (run / ".last.pt.deadbeef.tmp").write_bytes(b"half")  # as if killed while saving
    capsys.readouterr()
    train.main(argv)
    assert "resuming after epoch" in capsys.readouterr().out
    with open(run / "log.csv") as handle:
        assert [int(r["epoch"]) for r in csv.DictReader(handle)] == list(range(1, 13))
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_time_budget_stops_training_and_is_kept_on_resume(small_extract, tmp_path, capsys):
    argv = train_args(small_extract, tmp_path / "budget", 50) + ["--max-minutes", "0.0001",
                                                                  "--resume"]
    train.main(argv)
    train.main(argv)  # the same command again: the budget is spent, nothing more is trained
    output = capsys.readouterr().out
    assert output.count("time budget of 0.0001 min reached after epoch 1") == 2
    assert output.count("stopped by --max-minutes 0.0001 after 1 of 50 epochs") == 4  # + warning
    with open(tmp_path / "budget" / "log.csv") as handle:
        assert [r["epoch"] for r in csv.DictReader(handle)] == ["1"]
    # the test results say the network is not a complete run
    test.main(["--checkpoint", str(tmp_path / "budget" / "best.pt"), "--data-dir",
               str(small_extract / "2CH_ED"), "--out-dir", str(tmp_path / "results"),
               "--bootstrap", "10", "--no-save-predictions"])
    training = json.loads((tmp_path / "results" / "summary.json").read_text())["training"]
    note = "stopped by --max-minutes 0.0001 after 1 of 50 epochs"
    assert training["stopped_early"] == note and training["epochs_planned"] == 50
    assert f"**training {note}**" in (tmp_path / "results" / "report.md").read_text()


def test_learning_rate_schedule_does_not_depend_on_elapsed_time(small_extract, trained, tmp_path,
                                                               monkeypatch):
    """A generous --max-minutes on a machine 1000 times slower changes nothing: same weights."""
    start, real = time.monotonic(), time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: start + (real() - start) * 1000)
    train.main(train_args(small_extract, tmp_path / "slow", 2) + ["--max-minutes", "100000"])
    a = torch.load(trained / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "slow" / "last.pt", weights_only=True)
    assert [r["lr"] for r in a["history"]] == [r["lr"] for r in b["history"]]
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
