"""The view classifier: labels from every layout, training to a trivially separable set, exact
resume after SIGKILL, the metrics, and one-line errors on bad input."""
from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_from_noise.contract import VIEWS
from echo_from_noise.errors import UserError
from echo_from_noise.files import list_pngs, write_png
from echo_segmentation.model import save_checkpoint as save_segmentation_checkpoint
from echo_segmentation import test_view_classifier as tester
from echo_segmentation import train_view_classifier as trainer
from echo_segmentation.view_classifier.data import CLASS_NAMES, list_view_images, load_images
from echo_segmentation.view_classifier.metrics import classification_summary
from echo_segmentation.view_classifier.model import read_view_classifier

from .conftest import assert_help_lists, expect_user_error, kill_when, subprocess_env

TRAIN_MODULE = "echo_segmentation.train_view_classifier"
TEST_MODULE = "echo_segmentation.test_view_classifier"
# tiny and quick: 16 training images in batches of 4 (no batch of one image at 32 px)
TINY = ["--image-size", "32", "--batch-size", "4", "--seed", "0"]
# DenseNet's evaluation is right after a few steps; EfficientNet's running batch-norm statistics
# need more (on real data, about ten epochs)
LEARNS_FAST = ["--network", "densenet121", "--epochs", "4"]


# --- data ---------------------------------------------------------------------------------------

def make_samples_root(small_extract: Path, root: Path) -> Path:
    """SAMPLES/<VIEW>/samples/ of 2CH_ED and 4CH_ES from real images, named as step 3 does."""
    for view in ("2CH_ED", "4CH_ES"):
        folder = root / view / "samples"
        folder.mkdir(parents=True)
        for split in ("training", "validation", "testing"):
            for k, image in enumerate(list_pngs(small_extract / view / "images" / split)):
                shutil.copy(image, folder / f"{image.stem}_{k}.png")
    # a sample drawn from a 4CH_ES map but carrying a 2CH name: the folder decides
    shutil.copy(next(iter(list_pngs(root / "2CH_ED" / "samples"))),
                root / "4CH_ES" / "samples" / "patient0001_2CH_ED_training_7_s1.png")
    return root


def test_samples_root_labels_follow_the_view_folder(small_extract, tmp_path):
    root = make_samples_root(small_extract, tmp_path / "samples")
    training = list_view_images(root, "training")
    assert len(training) == 4 + 4 + 1
    for item in training:
        assert item.view == item.path.parent.parent.name
        assert item.label == (0 if item.view == "2CH_ED" else 1)
        assert "testing" not in item.stem
    odd = [i for i in training if i.stem == "patient0001_2CH_ED_training_7_s1"]
    assert odd[0].label == 1 and odd[0].view == "4CH_ES" and odd[0].patient == "patient0001"
    assert len(list_view_images(root, "validation")) == 4
    views = {i.view: i.label for i in list_view_images(root, "training", "view")}
    assert views == {"2CH_ED": VIEWS.index("2CH_ED"), "4CH_ES": VIEWS.index("4CH_ES")}
    with pytest.raises(UserError, match="no images in the 'testing' split"):
        list_view_images(root, "testing")  # testing is always real
    shutil.copy(training[0].path, root / "4CH_ES" / "samples" / "unnamed.png")
    with pytest.raises(UserError, match="unnamed.png: no training or validation split"):
        list_view_images(root, "training")


def test_extraction_root_and_dataset_folder_give_the_same_labels(small_extract, tmp_path):
    from_root = list_view_images(small_extract, "testing", "view")
    assert len(from_root) == 2 * 4 and {i.view for i in from_root} == set(VIEWS)
    dataset = tmp_path / "SEG" / "real"
    for item in from_root:
        (dataset / "images" / "testing").mkdir(parents=True, exist_ok=True)
        shutil.copy(item.path, dataset / "images" / "testing" / item.path.name)
    from_dataset = list_view_images(dataset, "testing", "view")
    assert [(i.stem, i.label) for i in from_dataset] == sorted((i.stem, i.label) for i in from_root)
    colour = dataset / "images" / "testing" / "patient0999_4CH_ED_testing.png"
    write_png(colour, np.stack([np.zeros((8, 8), np.uint8), np.full((8, 8), 255, np.uint8),
                                np.zeros((8, 8), np.uint8)], axis=-1))
    with pytest.raises(UserError, match="patient0999_4CH_ED_testing.png: expected a grey"):
        load_images(list_view_images(dataset, "testing"), 32)
    shutil.copy(from_root[0].path, dataset / "images" / "testing" / "scan.png")
    with pytest.raises(UserError, match="scan.png: no view in the name"):
        list_view_images(dataset, "testing")


# --- metrics ------------------------------------------------------------------------------------

def rows_of(patient: str, pairs: list[tuple[str, str]]) -> list[dict]:
    return [{"patient": patient, "truth": t, "prediction": p} for t, p in pairs]


def test_accuracy_balanced_accuracy_and_intervals_have_known_values():
    classes = list(CLASS_NAMES["chamber"])
    # one patient: 2CH right, right, wrong; 4CH right -> accuracy 3/4, recall 2/3 and 1
    one = rows_of("p1", [("2CH", "2CH"), ("2CH", "2CH"), ("2CH", "4CH"), ("4CH", "4CH")])
    summary = classification_summary(one, classes, resamples=200, seed=0)
    assert summary["accuracy"] == {"value": 0.75, "ci_low": 0.75, "ci_high": 0.75}
    balanced = summary["balanced_accuracy"]
    assert balanced["value"] == pytest.approx(5 / 6)
    assert balanced["ci_low"] == pytest.approx(5 / 6) == balanced["ci_high"]
    assert summary["confusion_matrix"] == [[2, 1], [0, 1]]
    assert summary["per_class_recall"] == {"2CH": pytest.approx(2 / 3), "4CH": 1.0}
    assert (summary["num_images"], summary["num_patients"]) == (4, 1)
    # two patients, one all right, one all wrong: resamples range from 0 (B twice) to 1 (A twice)
    two = (rows_of("A", [("2CH", "2CH"), ("4CH", "4CH")])
           + rows_of("B", [("2CH", "4CH"), ("4CH", "2CH")]))
    summary = classification_summary(two, classes, resamples=1000, seed=0)
    for metric in ("accuracy", "balanced_accuracy"):
        assert summary[metric] == {"value": 0.5, "ci_low": 0.0, "ci_high": 1.0}
    # four classes, one absent: balanced accuracy averages the classes present
    views = list(CLASS_NAMES["view"])
    summary = classification_summary(rows_of("p", [("2CH_ED", "2CH_ED"), ("2CH_ES", "4CH_ED"),
                                                   ("4CH_ED", "4CH_ED")]), views, resamples=0)
    assert summary["balanced_accuracy"]["value"] == pytest.approx(2 / 3)
    assert summary["per_class_recall"]["4CH_ES"] is None
    assert summary["accuracy"]["ci_low"] is None


# --- training and testing -----------------------------------------------------------------------

def make_separable_extract(root: Path) -> Path:
    """EXTRACT layout, 2CH_ED dark and 4CH_ED bright noise (48 px): 8/2/3 patients per view."""
    rng = np.random.default_rng(0)
    patients = {"training": range(1, 9), "validation": range(9, 11), "testing": range(11, 14)}
    for view, (low, high) in (("2CH_ED", (0, 80)), ("4CH_ED", (150, 256))):
        for split, numbers in patients.items():
            for n in numbers:
                image = rng.integers(low, high, size=(48, 48)).astype(np.uint8)
                write_png(root / view / "images" / split / f"patient{n:04d}_{view}_{split}.png",
                          image)
    return root


@pytest.fixture(scope="module")
def separable(tmp_path_factory) -> Path:
    return make_separable_extract(tmp_path_factory.mktemp("separable"))


@pytest.fixture(scope="module")
def trained(separable, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("view_run") / "run"
    trainer.main(["--data-dir", str(separable), "--out-dir", str(out), *LEARNS_FAST, *TINY])
    return out


@pytest.mark.slow  # trains networks for several seconds: not in the quick tier
def test_training_writes_a_run_that_classifies_a_separable_set(trained, separable, tmp_path):
    with open(trained / "log.csv") as handle:
        log = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in log] == [1, 2, 3, 4]
    assert set(log[0]) >= {"lr", "train_loss", "val_loss", "val_accuracy",
                           "val_balanced_accuracy", "epoch_s", "elapsed_s", "best"}
    config = json.loads((trained / "config.json").read_text())
    assert config["classes"] == ["2CH", "4CH"] and config["num_training"] == 16
    checkpoint = read_view_classifier(trained / "best.pt")
    assert checkpoint["classes"] == ["2CH", "4CH"] and checkpoint["best_score"] == 1.0

    out = tmp_path / "results"
    tester.main(["--checkpoint", str(trained / "best.pt"), "--data-dir", str(separable),
               "--out-dir", str(out), "--bootstrap", "100"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert summary["balanced_accuracy"]["value"] == 1.0
    assert summary["confusion_matrix"] == [[3, 0], [0, 3]]
    assert (summary["num_images"], summary["num_patients"]) == (6, 3)
    assert summary["training"]["epochs_trained"] == 4 and summary["training"]["epochs_planned"] == 4
    assert summary["training"]["network"] == "densenet121"
    assert summary["training"]["data_dir"] == str(separable)
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["stem", "patient", "view", "truth", "prediction", "p_2CH", "p_4CH"]
    assert len(rows) == 6 and all(r["truth"] == r["prediction"] for r in rows)
    assert all(abs(float(r["p_2CH"]) + float(r["p_4CH"]) - 1) < 1e-4 for r in rows)
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    assert json.loads((out / "config.json").read_text())["split"] == "testing"


@pytest.fixture
def one_thread():
    """Compute as the killed program does (run with OMP_NUM_THREADS=1), bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(separable, tmp_path,
                                                                    one_thread):
    arguments = ["--data-dir", str(separable), "--epochs", "4", "--network", "efficientnet-b0",
                 *TINY]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    trainer.main([*arguments, "--out-dir", str(whole)])
    # the same command starts the run, and continues it after the kill
    resume = [*arguments, "--out-dir", str(killed), "--resume"]
    # one thread in the killed program too, whatever OMP_NUM_THREADS says (CI sets 2): another
    # count sums in another order
    env = {**subprocess_env(), "OMP_NUM_THREADS": "1"}
    kill_when([sys.executable, "-m", TRAIN_MODULE, *resume], lambda: (killed / "last.pt").exists(),
              env)
    stopped_at = read_view_classifier(killed / "last.pt")["epoch"]
    assert 1 <= stopped_at < 4
    trainer.main(resume)
    expected, resumed = (read_view_classifier(p / "last.pt") for p in (whole, killed))
    assert resumed["epoch"] == expected["epoch"] == 4
    assert expected["model"].keys() == resumed["model"].keys()
    for name, tensor in expected["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    assert ([r["val_loss"] for r in resumed["history"]]
            == [r["val_loss"] for r in expected["history"]])


# --- bad input ----------------------------------------------------------------------------------

def test_bad_input_is_one_line_naming_the_file_and_creates_no_output(trained, separable,
                                                                    tmp_path, capsys):
    out = tmp_path / "out"
    empty = tmp_path / "empty"
    empty.mkdir()
    expect_user_error(trainer.main, ["--data-dir", str(empty), "--out-dir", str(out)], capsys,
                      str(empty), "neither")
    no_validation = tmp_path / "no_validation"
    shutil.copytree(separable, no_validation)
    for view in ("2CH_ED", "4CH_ED"):
        shutil.rmtree(no_validation / view / "images" / "validation")
    expect_user_error(trainer.main, ["--data-dir", str(no_validation), "--out-dir", str(out)],
                      capsys, str(no_validation), "'validation'")
    only_2ch = tmp_path / "only_2ch"  # a 2CH/4CH classifier cannot learn from 2CH images alone
    shutil.copytree(separable, only_2ch)
    shutil.rmtree(only_2ch / "4CH_ED")
    expect_user_error(trainer.main, ["--data-dir", str(only_2ch), "--out-dir", str(out)],
                      capsys, str(only_2ch), "no images of 4CH")
    assert not out.exists()

    segmentation = tmp_path / "seg.pt"
    save_segmentation_checkpoint(segmentation, config={}, normalisation={}, model={})
    unrelated = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, unrelated)
    for checkpoint, words in ((segmentation, "'echo_segmentation.unet'"),
                              (unrelated, "not a view classifier checkpoint")):
        expect_user_error(tester.main, ["--checkpoint", str(checkpoint), "--data-dir",
                                      str(separable), "--out-dir", str(out)], capsys,
                          str(checkpoint), words)
    expect_user_error(tester.main, ["--checkpoint", str(trained / "best.pt"), "--data-dir",
                                  str(empty), "--out-dir", str(out)], capsys, str(empty))
    assert not out.exists()

    before = sorted(p.name for p in trained.iterdir())
    run = ["--data-dir", str(separable), "--out-dir", str(trained), *LEARNS_FAST, *TINY]
    expect_user_error(trainer.main, run + ["--resume", "--lr", "0.01"], capsys,
                      str(trained / "last.pt"), "lr=0.001")
    expect_user_error(trainer.main, run, capsys, str(trained / "last.pt"), "--resume")
    assert sorted(p.name for p in trained.iterdir()) == before


@pytest.mark.slow
def test_help_lists_the_options():
    assert_help_lists(TRAIN_MODULE, "--data-dir", "--out-dir", "--classes", "--network",
                      "--image-size", "--batch-size", "--epochs", "--lr", "--lr-min", "--augment",
                      "--augment-prob", "--resume", "--seed", "--device", "--amp",
                      "--num-workers")
    assert_help_lists(TEST_MODULE, "--checkpoint", "--data-dir", "--out-dir", "--split",
                      "--batch-size", "--bootstrap", "--seed", "--device")
