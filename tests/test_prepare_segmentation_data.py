"""The hand-off from generated samples (or real frames) to a segmentation dataset (step 4)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from data_preparation.prepare_segmentation_data import main as seg_main
from echo_from_noise.contract import SPLITS, VIEWS, sector_to_camus
from echo_from_noise.files import list_pngs, read_png, write_png

from .conftest import SMALL_SIZE, assert_help_lists, expect_user_error, run_module


def fake_sample(sector_map: np.ndarray) -> np.ndarray:
    """A stand-in for a generated image: any grey image that depends on the map."""
    return (sector_map.astype(np.uint8) * 40 + 30) * (sector_map > 0)


def make_samples(small_labels: Path, root: Path, views=VIEWS, splits=("training", "validation"),
                 size: int | None = None) -> Path:
    """A step 3 folder: one sample per augmented map of ``small_labels``."""
    for view in views:
        for split in splits:
            maps = small_labels / f"{view}_augmented" / "sector_annotations" / split
            if split == "testing":
                maps = small_labels / view / "sector_annotations" / split
            for path in list_pngs(maps):
                sector = read_png(path)
                if size:
                    sector = sector[:size, :size]
                write_png(root / view / "labels" / path.name, sector)
                write_png(root / view / "samples" / path.name, fake_sample(sector))
    return root


def expect_error(argv, capsys, *fragments):
    return expect_user_error(seg_main, argv, capsys, *fragments)


def names(folder: Path) -> list[str]:
    return [p.name for p in list_pngs(folder)]


def test_synthetic_dataset_of_one_view(small_extract, small_labels, tmp_path):
    samples = make_samples(small_labels, tmp_path / "samples", views=("2CH_ED",))
    seg_main(["--samples-dir", str(samples), "--extract-dir", str(small_extract),
              "--out-dir", str(tmp_path / "seg"), "--views", "2CH_ED"])
    dataset = tmp_path / "seg" / "2CH_ED"
    for split in ("training", "validation"):
        expected = names(samples / "2CH_ED" / "samples")
        expected = [n for n in expected if f"_{split}_" in n]
        assert names(dataset / "images" / split) == expected
        assert names(dataset / "annotations" / split) == expected
        for name in expected:
            sector = read_png(samples / "2CH_ED" / "labels" / name)
            labels = read_png(dataset / "annotations" / split / name)
            assert np.array_equal(labels, sector_to_camus(sector))
            assert set(np.unique(labels)) <= {0, 1, 2, 3}
            assert np.array_equal(read_png(dataset / "images" / split / name),
                                  read_png(samples / "2CH_ED" / "samples" / name))
    assert len(names(dataset / "images" / "training")) == 8  # 4 patients x 2 maps
    for kind in ("images", "annotations"):
        real = small_extract / "2CH_ED" / kind / "testing"
        assert names(dataset / kind / "testing") == names(real) and names(real)
        for name in names(real):
            assert np.array_equal(read_png(dataset / kind / "testing" / name), read_png(real / name))
    config = json.loads((dataset / "dataset_config.json").read_text())
    assert config["pairs"] == {"training": 8, "validation": 4, "testing": 2}


def test_all_views_merged_and_testing_samples_skipped(small_extract, small_labels, tmp_path,
                                                      capsys):
    samples = make_samples(small_labels, tmp_path / "samples", splits=SPLITS)
    seg_main(["--samples-dir", str(samples), "--extract-dir", str(small_extract),
              "--out-dir", str(tmp_path / "seg")])
    assert "samples of testing maps skipped" in capsys.readouterr().err
    dataset = tmp_path / "seg" / "all_views"
    counts = {s: len(names(dataset / "images" / s)) for s in SPLITS}
    assert counts == {"training": 32, "validation": 16, "testing": 8}
    assert all(names(dataset / "images" / s) == names(dataset / "annotations" / s) for s in SPLITS)
    assert {n.split("_", 1)[1].rsplit("_", 2)[0] for n in names(dataset / "images/training")} == set(VIEWS)


def test_real_baseline_dataset(small_extract, tmp_path):
    seg_main(["--source", "real", "--extract-dir", str(small_extract), "--out-dir",
              str(tmp_path / "seg"), "--views", "4CH_ED", "4CH_ES", "--dataset-name", "real4ch"])
    dataset = tmp_path / "seg" / "real4ch"
    for split in SPLITS:
        for kind in ("images", "annotations"):
            got = names(dataset / kind / split)
            want = sorted(names(small_extract / "4CH_ED" / kind / split)
                          + names(small_extract / "4CH_ES" / kind / split))
            assert got == want and got
            for name in got:
                view = "4CH_ED" if "_4CH_ED_" in name else "4CH_ES"
                assert np.array_equal(read_png(dataset / kind / split / name),
                                      read_png(small_extract / view / kind / split / name))


def test_rerun_replaces_the_whole_dataset_and_size_option(small_extract, small_labels, tmp_path):
    samples = make_samples(small_labels, tmp_path / "samples", views=("4CH_ES",))
    argv = ["--samples-dir", str(samples), "--extract-dir", str(small_extract),
            "--out-dir", str(tmp_path / "seg"), "--views", "4CH_ES"]
    seg_main(argv)
    stale = tmp_path / "seg/4CH_ES/images/training/stale.png"
    write_png(stale, np.zeros((4, 4), np.uint8))
    seg_main(argv + ["--size", "32"])
    assert not stale.exists()
    assert sorted(p.name for p in (tmp_path / "seg").iterdir()) == ["4CH_ES"]
    for path in (tmp_path / "seg/4CH_ES").rglob("*.png"):
        assert read_png(path).shape == (32, 32)


def test_sizes_must_agree_without_size_option(small_extract, small_labels, tmp_path, capsys):
    samples = make_samples(small_labels, tmp_path / "samples", views=("2CH_ES",), size=48)
    out = tmp_path / "seg"
    expect_error(["--samples-dir", str(samples), "--extract-dir", str(small_extract),
                  "--out-dir", str(out), "--views", "2CH_ES"], capsys,
                 "image sizes differ", "--size")
    assert not out.exists()  # nothing, not even an empty output folder
    seg_main(["--samples-dir", str(samples), "--extract-dir", str(small_extract),
              "--out-dir", str(out), "--views", "2CH_ES", "--size", str(SMALL_SIZE)])
    assert read_png(next((out / "2CH_ES/images/training").iterdir())).shape == (64, 64)


@pytest.mark.parametrize("damage, message", [
    ("label_value", "label values [7] outside 0..4"),
    ("no_label", "file not found"),
    ("bad_name", "cannot tell the split from the name"),
    ("size", "differs from the image"),
    ("no_validation", "no samples of the validation split"),
])
def test_bad_samples_name_the_file_and_leave_no_dataset(small_extract, small_labels, tmp_path,
                                                        capsys, damage, message):
    samples = make_samples(small_labels, tmp_path / "samples", views=("2CH_ED",))
    sample = list_pngs(samples / "2CH_ED/samples")[-1]
    label = samples / "2CH_ED/labels" / sample.name
    bad = str(label)
    if damage == "label_value":
        write_png(label, np.where(read_png(label) == 4, 7, read_png(label)).astype(np.uint8))
    elif damage == "no_label":
        label.unlink()
    elif damage == "bad_name":
        bad = str(sample.with_name("random_name.png"))
        shutil.copy(sample, bad)
    elif damage == "size":
        write_png(label, np.zeros((10, 10), np.uint8))
    else:
        for path in (samples / "2CH_ED/samples").glob("*_validation_*"):
            path.unlink()
        bad = str(samples / "2CH_ED/samples")
    out = tmp_path / "seg"
    expect_error(["--samples-dir", str(samples), "--extract-dir", str(small_extract),
                  "--out-dir", str(out), "--views", "2CH_ED"], capsys, bad, message)
    assert not out.exists()


def test_missing_inputs(small_extract, tmp_path, capsys):
    expect_error(["--extract-dir", str(small_extract), "--out-dir", str(tmp_path / "seg")],
                 capsys, "--samples-dir is required")
    expect_error(["--samples-dir", str(tmp_path), "--extract-dir", str(small_extract),
                  "--out-dir", str(tmp_path / "seg"), "--views", "2CH_ED"],
                 capsys, str(tmp_path / "2CH_ED" / "samples"), "no generated samples")
    empty = tmp_path / "extract"
    shutil.copytree(small_extract / "2CH_ED", empty / "2CH_ED")
    shutil.rmtree(empty / "2CH_ED/images/testing")
    expect_error(["--source", "real", "--extract-dir", str(empty), "--out-dir",
                  str(tmp_path / "seg"), "--views", "2CH_ED"],
                 capsys, "2CH_ED/images/testing", "empty testing split")


@pytest.mark.slow
def test_command_line(small_extract, tmp_path):
    module = "data_preparation.prepare_segmentation_data"
    assert_help_lists(module, "--samples-dir", "--extract-dir", "--out-dir", "--views",
                      "--dataset-name", "--source", "--size")
    done = run_module(module, "--source", "real", "--extract-dir", small_extract,
                      "--out-dir", tmp_path, "--views", "2CH_ED")
    assert done.returncode == 0, done.stderr
    assert "dataset real_2CH_ED: 4 training, 2 validation, 2 testing pairs" in done.stdout


def test_real_test_spacing_is_carried_into_the_dataset(small_extract, tmp_path):
    extract = shutil.copytree(small_extract, tmp_path / "extract")
    test_stems = [p.stem for p in list_pngs(extract / "2CH_ED" / "images" / "testing")]
    spacing = {stem: [0.5, 0.25] for stem in test_stems}
    spacing["patient0001_2CH_ED_training"] = [0.1, 0.1]
    (extract / "spacing.json").write_text(json.dumps(spacing))
    seg_main(["--source", "real", "--extract-dir", str(extract), "--out-dir", str(tmp_path / "seg"),
              "--views", "2CH_ED"])
    carried = json.loads((tmp_path / "seg" / "real_2CH_ED" / "spacing.json").read_text())
    assert carried == {stem: [0.5, 0.25] for stem in test_stems}  # testing frames only
    seg_main(["--source", "real", "--extract-dir", str(extract), "--out-dir", str(tmp_path / "seg2"),
              "--views", "2CH_ED", "--size", "32"])
    assert not (tmp_path / "seg2" / "real_2CH_ED" / "spacing.json").exists()  # resized: unknown


# --- real + synthetic, and few real patients ------------------------------------------------------

def patients_of(folder: Path) -> set[str]:
    return {name.split("_")[0] for name in names(folder)}


def test_real_plus_synthetic_holds_both(small_extract, small_labels, tmp_path):
    samples = make_samples(small_labels, tmp_path / "samples")
    seg_main(["--source", "real+synthetic", "--samples-dir", str(samples), "--extract-dir",
              str(small_extract), "--out-dir", str(tmp_path / "seg")])
    dataset = tmp_path / "seg" / "real_synthetic_all_views"
    real = {n for v in VIEWS for n in names(small_extract / v / "images" / "training")}
    synthetic = {n for v in VIEWS for n in names(samples / v / "samples") if "_training_" in n}
    assert set(names(dataset / "images" / "training")) == real | synthetic and real and synthetic
    config = json.loads((dataset / "dataset_config.json").read_text())
    assert config["pairs"]["training"] == len(real) + len(synthetic)


def test_a_fraction_of_patients_is_chosen_by_patient_and_reproducibly(small_extract, small_labels,
                                                                      tmp_path):
    samples = make_samples(small_labels, tmp_path / "samples")
    common = ["--samples-dir", str(samples), "--extract-dir", str(small_extract)]
    seg_main([*common, "--source", "real+synthetic", "--patient-fraction", "0.5",
              "--out-dir", str(tmp_path / "a")])
    seg_main([*common, "--source", "real+synthetic", "--patient-fraction", "0.5",
              "--out-dir", str(tmp_path / "b")])
    seg_main([*common, "--source", "real", "--patient-fraction", "0.25", "--out-dir", str(tmp_path / "c")])
    a = tmp_path / "a" / "real_synthetic_patients50_all_views"
    assert names(a / "images" / "training") == names(tmp_path / "b" / a.name / "images" / "training")
    training = patients_of(small_extract / "2CH_ED" / "images" / "training")  # 4 patients
    kept = patients_of(a / "images" / "training")
    assert len(kept) == 2 and kept < training
    # every frame of a kept patient, real (4 views) and synthetic (2 maps per view), none of the others
    assert len(names(a / "images" / "training")) == len(kept) * 4 * (1 + 2)
    assert patients_of(a / "images" / "validation") and len(patients_of(a / "images" / "validation")) == 1
    assert names(a / "images" / "testing") == sorted(
        n for v in VIEWS for n in names(small_extract / v / "images" / "testing"))  # all of them
    # a smaller fraction keeps a subset of a larger one's patients
    c = tmp_path / "c" / "real_patients25_all_views"
    assert patients_of(c / "images" / "training") <= kept and len(patients_of(c / "images" / "training")) == 1
    config = json.loads((a / "dataset_config.json").read_text())
    assert config["patients"]["training"] == 2 and config["training_patients"] == sorted(kept)


def test_a_fraction_outside_0_1_is_refused(small_extract, tmp_path, capsys):
    expect_error(["--source", "real", "--extract-dir", str(small_extract), "--out-dir",
                  str(tmp_path / "seg"), "--patient-fraction", "0"], capsys, "--patient-fraction", "(0, 1]")
    assert not (tmp_path / "seg").exists()
