"""evaluate_synthetic on hand-made synthetic sets whose answers are known, built from real CAMUS
frames (the session's small extraction: 4 training, 2 validation, 2 test patients, 64 px)."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from echo_from_noise.contract import VIEWS, camus_to_sector
from echo_from_noise.files import list_pngs, read_png, write_png
from echo_segmentation.evaluate_synthetic import main as evaluate_main
from echo_segmentation.model import read_checkpoint, save_checkpoint
from tests.conftest import assert_help_lists, expect_user_error

# every test here runs programs as subprocesses or trains several networks
pytestmark = pytest.mark.slow


# one draw (FD's matrix square root of 256 features costs about 2 s a draw here); the test of
# the draws' spread asks for 3
FAST = ["--view-epochs", "1", "--view-image-size", "32", "--view-batch-size", "8",
        "--draws", "1", "--bootstrap", "60", "--ssim-size", "32", "--figure-cases", "3"]


@pytest.fixture(scope="module")
def segmenter(small_extract, tmp_path_factory) -> Path:
    """A segmenter trained briefly on the real training frames (the feature network)."""
    from echo_segmentation.train import main as train_main

    out = tmp_path_factory.mktemp("real_segmenter")
    train_main(["--data-dir", str(small_extract), "--out-dir", str(out), "--image-size", "32",
                "--epochs", "20", "--batch-size", "4"])
    return out / "best.pt"


def sector_map(labels: np.ndarray) -> np.ndarray:
    """A sector map from CAMUS labels: the whole frame counts as sector."""
    return camus_to_sector(labels, np.ones(labels.shape, bool))


def copy_set(extract: Path, out: Path, splits: tuple[str, ...], permute: bool = False,
             seeds: int = 1) -> Path:
    """A samples root whose 'synthetic' images are real frames of ``splits``, each with the map
    of its own annotation (or, with ``permute``, the map of another frame of its view);
    ``seeds`` > 1 repeats each image under <name>_s<k>."""
    for view in VIEWS:
        for split in splits:
            images = list_pngs(extract / view / "images" / split)
            maps = [sector_map(read_png(extract / view / "annotations" / split / p.name)) for p in images]
            if permute:
                maps = maps[1:] + maps[:1]
            for path, label_map in zip(images, maps):
                # names as the sampler writes them: <stem>_<k> for the k-th augmented map
                for k in range(seeds):
                    name = f"{path.stem}_0" + (f"_s{k}" if k else "")
                    write_png(out / view / "samples" / f"{name}.png", read_png(path))
                    write_png(out / view / "labels" / f"{name}.png", label_map)
    return out


def evaluate(samples: Path, extract: Path, out: Path, segmenter: Path, *options) -> dict:
    evaluate_main(["--samples-dir", str(samples), "--extract-dir", str(extract), "--out-dir",
                   str(out), "--segmenter", str(segmenter), *FAST, *options])
    return json.loads((out / "evaluation.json").read_text())


@pytest.fixture(scope="module")
def copies(small_extract, segmenter, tmp_path_factory) -> tuple[Path, dict]:
    """The real training and validation frames passed off as a synthetic set, two 'seeds' each."""
    root = tmp_path_factory.mktemp("copies")
    samples = copy_set(small_extract, root / "samples", ("training", "validation"), seeds=2)
    return root, evaluate(samples, small_extract, root / "evaluation", segmenter)


def test_copies_of_the_training_frames_are_flagged_as_memorised(copies):
    _, result = copies
    memo = result["memorisation"]
    # the training copies are at distance 0 / SSIM 1 from their original: 2 of every 3 images
    # (the validation frames are not training frames)
    assert memo["features"]["count"] >= 32 and memo["ssim"]["count"] >= 32
    assert memo["ssim"]["threshold"] < 1.0
    # per image: each training copy names its original as its nearest frame, by both measures
    with open(copies[0] / "evaluation" / "synthetic_images.csv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert len(rows) == 48
    for name, row in rows.items():
        if "_training_" in name:
            original = name.split("_training_")[0] + "_training"
            assert row["nearest_training_by_features"] == row["nearest_training_by_ssim"] == original
            assert row["memorised_by_features"] == row["memorised_by_ssim"] == "1"
    assert memo["features"]["count"] == sum(int(r["memorised_by_features"]) for r in rows.values())
    # the copies of training frames (32 of 48) find the frame their map was made from
    own = memo["own_frame"]
    assert own["images"] == 32 and own["by_features"] == own["by_ssim"] == 1.0
    assert own["chance"] == pytest.approx(1 / 4)  # 4 training frames per view
    # against the control: the copies of validation frames (held-out maps) are as close to their
    # own frames as the training copies: a copier of every map's frame, not a memoriser
    control = memo["control"]
    assert control["features"]["num_seen"] == 32 and control["features"]["num_control"] == 16
    assert control["decision"] == "no evidence of memorisation" and "Mann-Whitney" in control["rule"]
    closest = memo["closest"][0]
    assert closest["ssim"] == pytest.approx(1.0, abs=1e-6) and closest["feature_distance"] < 1e-6
    assert closest["synthetic"].startswith(closest["training"])


def test_the_report_has_every_section_and_figure(copies):
    root, result = copies
    out = root / "evaluation"
    report = (out / "report.md").read_text()
    assert not (out / "networks" / "segmenter").exists()  # --segmenter given: none trained
    for title in ("## Mask adherence", "## Realism", "## Memorisation", "## Diversity",
                  "## View classification", "not Inception FID"):
        assert title in report
    for figure in ("adherence_worst", "memorisation_closest", "nearest_features", "nearest_ssim",
                   "views_confusion_synthetic", "views_confusion_real"):
        assert (out / "figures" / f"{figure}.png").is_file(), figure
    assert json.loads((out / "config.json").read_text())["view_epochs"] == 1
    assert result["counts"]["synthetic"] == 2 * 4 * 6 and result["counts"]["maps"] == 24


def test_seeds_that_change_nothing_have_zero_diversity(copies):
    diversity = copies[1]["diversity"]
    assert diversity["maps_with_several_images"] == 24
    assert diversity["synthetic_within_map"]["feature_distance"] == pytest.approx(0.0, abs=1e-9)
    assert diversity["synthetic_within_map"]["one_minus_ssim"] == pytest.approx(0.0, abs=1e-6)
    assert diversity["real_between_images"]["one_minus_ssim"] > 0.1


def test_view_classifiers_are_trained_on_each_set_and_tested_on_real_frames(copies):
    views = copies[1]["view_classification"]
    for name in ("synthetic", "real"):
        assert views[name]["classes"] == ["2CH", "4CH"]
        assert views[name]["num_images"] == 8  # 2 test patients x 4 views


def test_a_set_equal_to_the_test_frames_is_compared_at_equal_n_and_adheres_like_them(
        small_extract, segmenter, tmp_path):
    samples = copy_set(small_extract, tmp_path / "samples", ("testing",))
    result = evaluate(samples, small_extract, tmp_path / "evaluation", segmenter,
                      "--no-view-classification", "--draws", "3")
    realism = result["realism"]
    # 8 synthetic images, 2 test patients of 4 frames: halves of 4 frames, every comparison at 4
    assert realism["images_per_set"] == 4 and realism["draws"] == 3
    for comparison in (realism["synthetic_vs_test"], realism["floor"]):
        assert comparison["n"] == 4
        assert comparison["fd_min"] - 1e-9 <= comparison["fd"] <= comparison["fd_max"] + 1e-9
        assert comparison["kid_ci_low"] - 1e-9 <= comparison["kid"] <= comparison["kid_ci_high"] + 1e-9
    # the floor's frames are test patients; the segmenter learnt from the training frames only
    assert realism["floor_unseen"].startswith("verified")
    report = (tmp_path / "evaluation" / "report.md").read_text()
    assert "N = 4 images per set" in report and "KID [95 % interval]" in report
    # no held-out maps in this set: the memorisation control cannot decide
    assert result["memorisation"]["control"]["decision"].startswith("undecided")
    adherence = result["mask_adherence"]
    # the same frames and the same labels: adherence is the segmenter's own test Dice
    assert (adherence["synthetic"]["all"]["dice"]["mean"]["mean"]
            == pytest.approx(adherence["real_test"]["all"]["dice"]["mean"]["mean"], abs=1e-6))
    assert result["view_classification"] == {"skipped": "--no-view-classification"}
    assert result["diversity"]["synthetic_within_map"] is None


def test_training_frames_copied_while_held_out_maps_get_other_frames_are_memorised(
        small_extract, segmenter, tmp_path):
    """Training maps give copies of their frames; validation maps give another patient's frame:
    the images of seen frames are nearer their own frames than the control's are."""
    samples = copy_set(small_extract, tmp_path / "samples", ("training", "validation"))
    for view in VIEWS:
        held_out = [p for p in list_pngs(samples / view / "samples") if "_validation_" in p.name]
        images = [read_png(p) for p in held_out]
        for path, image in zip(held_out, images[1:] + images[:1]):
            write_png(path, image)
    result = evaluate(samples, small_extract, tmp_path / "evaluation", segmenter,
                      "--no-view-classification")
    control = result["memorisation"]["control"]
    assert control["decision"] == "memorised"
    assert control["features"]["flagged"] == control["ssim"]["flagged"] == 16  # every copy
    assert control["features"]["median_seen"] < 1e-6 < control["features"]["median_control"]


def test_maps_swapped_between_images_lower_the_adherence(small_extract, segmenter, tmp_path):
    right = copy_set(small_extract, tmp_path / "right", ("testing",))
    swapped = copy_set(small_extract, tmp_path / "swapped", ("testing",), permute=True)
    options = ["--no-view-classification"]
    good = evaluate(right, small_extract, tmp_path / "e1", segmenter, *options)["mask_adherence"]
    bad = evaluate(swapped, small_extract, tmp_path / "e2", segmenter, *options)["mask_adherence"]
    assert (bad["synthetic"]["all"]["dice"]["mean"]["mean"]
            < good["synthetic"]["all"]["dice"]["mean"]["mean"] - 0.05)


def test_the_same_command_again_gives_the_same_evaluation(copies, small_extract, segmenter):
    root, result = copies
    again = evaluate(root / "samples", small_extract, root / "evaluation", segmenter)
    assert again == result


def test_bad_input_is_one_line_and_leaves_nothing(small_extract, segmenter, tmp_path, capsys):
    samples = copy_set(small_extract, tmp_path / "samples", ("testing",))
    out = tmp_path / "out"
    base = ["--extract-dir", str(small_extract), "--out-dir", str(out), "--segmenter", str(segmenter)]
    # a sample without its label map
    no_label = tmp_path / "no_label"
    shutil.copytree(samples, no_label)
    victim = list_pngs(no_label / "2CH_ED" / "labels")[0]
    victim.unlink()
    expect_user_error(evaluate_main, ["--samples-dir", str(no_label), *base], capsys,
                      victim.name, "no label map")
    # a label map of another size than its image
    resized = tmp_path / "resized"
    shutil.copytree(samples, resized)
    label = list_pngs(resized / "4CH_ES" / "labels")[0]
    write_png(label, np.zeros((32, 32), np.uint8))
    expect_user_error(evaluate_main, ["--samples-dir", str(resized), *base], capsys, label.name,
                      "differs")
    # a checkpoint that is not a segmentation network
    other = tmp_path / "other.pt"
    other.write_text("not a checkpoint")
    expect_user_error(evaluate_main, ["--samples-dir", str(samples), "--extract-dir",
                                      str(small_extract), "--out-dir", str(out), "--segmenter",
                                      str(other)], capsys, "other.pt")
    # view classification needs synthetic training and validation images
    expect_user_error(evaluate_main, ["--samples-dir", str(samples), *base], capsys,
                      "no images in the 'training' split")
    # a segmenter trained on a synthetic data set (its step-4 dataset_config.json says so)
    made_of_samples = tmp_path / "seg" / "all_views"
    made_of_samples.mkdir(parents=True)
    (made_of_samples / "dataset_config.json").write_text(json.dumps({"source": "synthetic"}))
    checkpoint = read_checkpoint(segmenter)
    checkpoint["config"]["data_dir"] = str(made_of_samples)
    synthetic_trained = tmp_path / "synthetic_trained.pt"
    save_checkpoint(synthetic_trained, **checkpoint)
    expect_user_error(evaluate_main, ["--samples-dir", str(samples), "--extract-dir",
                                      str(small_extract), "--out-dir", str(out), "--segmenter",
                                      str(synthetic_trained)], capsys, "synthetic_trained.pt",
                      "trained on synthetic images")
    # no samples folder at all
    expect_user_error(evaluate_main, ["--samples-dir", str(tmp_path / "none"), *base], capsys,
                      "none")
    # more images per set than the smallest half of the test patients has (4 frames)
    expect_user_error(evaluate_main, ["--samples-dir", str(samples), *base,
                                      "--no-view-classification", "--realism-images", "5"],
                      capsys, "--realism-images 5: more than the 4 images")
    expect_user_error(evaluate_main, ["--samples-dir", str(samples), *base, "--draws", "0"],
                      capsys, "--draws must be at least 1, got 0")
    # a feature network that learnt from a test patient: the floor would not be unseen
    learnt_test = tmp_path / "learnt_test"
    test_pair = list_pngs(small_extract / "2CH_ED" / "images" / "testing")[0]
    for folder in ("images", "annotations"):
        (learnt_test / folder / "training").mkdir(parents=True)
        shutil.copy(small_extract / "2CH_ED" / folder / "testing" / test_pair.name,
                    learnt_test / folder / "training" / test_pair.name)
    checkpoint["config"]["data_dir"] = str(learnt_test)
    saw_test = tmp_path / "saw_test.pt"
    save_checkpoint(saw_test, **checkpoint)
    expect_user_error(evaluate_main, ["--samples-dir", str(samples), "--extract-dir",
                                      str(small_extract), "--out-dir", str(out), "--segmenter",
                                      str(saw_test), "--no-view-classification"], capsys,
                      "saw_test.pt: trained on test patient", test_pair.name.split("_")[0])
    # SSIM's window is 11 px: a smaller --ssim-size was a traceback after the segmenter trained
    expect_user_error(evaluate_main, ["--samples-dir", str(samples), *base, "--ssim-size", "10"],
                      capsys, "--ssim-size must be at least 11, got 10")
    assert not out.exists()


def test_help_lists_the_options():
    assert_help_lists("echo_segmentation.evaluate_synthetic", "--samples-dir", "--extract-dir",
                      "--segmenter", "--view-epochs", "--seg-epochs", "--ssim-size",
                      "--realism-images", "--draws")



def test_without_a_segmenter_one_is_trained_on_the_real_frames(small_extract, tmp_path):
    samples = copy_set(small_extract, tmp_path / "samples", ("testing",))
    out = tmp_path / "evaluation"
    evaluate_main(["--samples-dir", str(samples), "--extract-dir", str(small_extract), "--out-dir",
                   str(out), "--no-view-classification", "--seg-epochs", "1",
                   "--seg-image-size", "32", *FAST])
    result = json.loads((out / "evaluation.json").read_text())
    assert result["segmenter"] == str(out / "networks" / "segmenter" / "best.pt")
    trained = json.loads((out / "networks" / "segmenter" / "config.json").read_text())
    assert trained["data_dir"] == str(small_extract) and trained["epochs"] == 1
    assert trained["num_training"] == 16  # the real training frames: 4 patients x 4 views
