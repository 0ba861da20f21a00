"""Sector maps, the sector mask and the label augmentation (step 2)."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from data_preparation.augmentation import (AugmentationParams, augment_map, augmentation_rng,
                                           bspline_weights, random_displacement)
from data_preparation.prepare_labels import main as labels_main
from data_preparation.sector_mask import sector_mask
from echo_from_noise.contract import SPLITS, VIEWS, sector_to_camus
from echo_from_noise.files import list_pngs, read_png, write_png

from .conftest import SMALL_SIZE, assert_help_lists, expect_user_error, run_module

AUGMENTED_SPLITS = ("training", "validation")


def files(root: Path) -> dict[str, bytes]:
    """The PNGs of the step 2 layout (not the figure) by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("*/*/*/*.png"))}


def expect_error(argv, capsys, *fragments):
    return expect_user_error(labels_main, argv, capsys, *fragments)


def test_layout_counts_and_round_trip_to_camus(small_extract, small_labels):
    for view in VIEWS:
        for split in SPLITS:
            extracted = list_pngs(small_extract / view / "images" / split)
            maps = list_pngs(small_labels / view / "sector_annotations" / split)
            assert [p.name for p in maps] == [p.name for p in extracted] and extracted
            for image_path, map_path in zip(extracted, maps):
                sector = read_png(map_path)
                assert set(np.unique(sector)) <= set(range(5))
                assert {0, 1, 2, 3, 4} <= set(np.unique(sector))
                labels = read_png(small_extract / view / "annotations" / split / image_path.name)
                assert np.array_equal(sector_to_camus(sector), labels)
                copied = small_labels / view / "images" / split / image_path.name
                assert copied.read_bytes() == image_path.read_bytes()
                # tissue (2) exactly where the cone is and no heart label
                mask = sector_mask(read_png(image_path))
                assert np.array_equal(sector == 2, mask & (labels == 0))
            augmented = list_pngs(small_labels / f"{view}_augmented" / "sector_annotations" / split)
            if split in AUGMENTED_SPLITS:
                assert [p.name for p in augmented] == sorted(
                    f"{p.stem}_{k}.png" for p in extracted for k in range(2))
                for path in augmented:
                    values = np.unique(read_png(path))
                    assert set(values) <= set(range(5)) and {0, 1, 2, 3}.issubset(values)
            else:
                assert augmented == []  # the testing split stays real
    config = json.loads((small_labels / "labels_config.json").read_text())
    assert config["num_augment"] == 2 and config["maps"]["2CH_ED_augmented/training"] == 8
    figure = read_png(small_labels / "augmentation_examples.png", color=True)
    assert figure.shape[0] > 200 and figure.std() > 10


def test_same_seed_is_byte_identical_and_each_map_has_its_own_stream(small_extract, small_labels,
                                                                    tmp_path):
    again = tmp_path / "again"
    labels_main(["--extract-dir", str(small_extract), "--out-dir", str(again),
                 "--num-augment", "2", "--seed", "0"])
    assert files(again) == files(small_labels)
    # one view, one augmentation, and a single patient: the same bytes for what is produced
    one = tmp_path / "one_patient"
    for kind in ("images", "annotations"):
        source = small_extract / "4CH_ES" / kind / "training"
        first = list_pngs(source)[1]
        (one / "4CH_ES" / kind / "training").mkdir(parents=True)
        shutil.copy(first, one / "4CH_ES" / kind / "training")
        (one / "4CH_ES" / kind / "validation").mkdir(parents=True)
        shutil.copy(list_pngs(small_extract / "4CH_ES" / kind / "validation")[0],
                    one / "4CH_ES" / kind / "validation")
    subset = tmp_path / "subset"
    labels_main(["--extract-dir", str(one), "--out-dir", str(subset), "--views", "4CH_ES",
                 "--num-augment", "1"])
    produced = files(subset)
    assert len(produced) == 2 + 2 + 2  # maps, images, one augmented map per map
    full = files(small_labels)
    for name, data in produced.items():
        assert full[name] == data, name
    other_seed = tmp_path / "seed1"
    labels_main(["--extract-dir", str(one), "--out-dir", str(other_seed), "--views", "4CH_ES",
                 "--num-augment", "1", "--seed", "1"])
    changed = [n for n, data in files(other_seed).items() if "_augmented" in n and data != full[n]]
    assert len(changed) == 2


def test_rerun_with_fewer_maps_removes_the_extra_ones(small_extract, tmp_path):
    argv = ["--extract-dir", str(small_extract), "--out-dir", str(tmp_path), "--views", "2CH_ED"]
    labels_main(argv + ["--num-augment", "3"])
    labels_main(argv + ["--num-augment", "1"])
    names = [p.name for p in list_pngs(tmp_path / "2CH_ED_augmented/sector_annotations/training")]
    assert names and all(name.endswith("_0.png") for name in names)
    assert not list(tmp_path.glob(".*"))


def test_rerun_after_a_smaller_extraction_removes_the_dropped_patient(small_extract, tmp_path):
    extract = shutil.copytree(small_extract, tmp_path / "extract")
    out = tmp_path / "labels"
    argv = ["--extract-dir", str(extract), "--out-dir", str(out), "--views", "2CH_ED",
            "--num-augment", "1"]
    labels_main(argv)
    dropped = list_pngs(extract / "2CH_ED" / "images" / "training")[0].name
    assert (out / "2CH_ED" / "images" / "training" / dropped).exists()
    for kind in ("images", "annotations"):
        (extract / "2CH_ED" / kind / "training" / dropped).unlink()
    labels_main(argv)
    stem = dropped.removesuffix(".png")
    left = [str(p.relative_to(out)) for p in out.rglob(f"{stem}*.png")]
    assert left == []
    assert len(list_pngs(out / "2CH_ED" / "images" / "training")) == \
        len(list_pngs(extract / "2CH_ED" / "images" / "training"))


def cone(size=96, half_angle=35.0, radius=88.0) -> np.ndarray:
    """A synthetic apical sector (apex at the top centre) as a boolean mask."""
    rows, cols = np.indices((size, size), dtype=float)
    dx, dy = cols - (size - 1) / 2, rows
    return (np.hypot(dx, dy) <= radius) & (np.abs(np.degrees(np.arctan2(dx, dy))) <= half_angle)


def test_sector_mask_is_the_solid_cone_despite_dark_pixels_inside():
    truth = cone()
    rng = np.random.default_rng(0)
    image = np.where(truth, rng.integers(20, 255, truth.shape), 0).astype(np.uint8)
    image[30:50, 40:56] = 0  # a black blood pool inside
    image[60:63, :] = 0  # a dark band right across the cone
    image[5, 2] = 200  # a stray bright pixel outside the cone
    naive = image != 0
    mask = sector_mask(image)
    assert (truth & ~naive).sum() > 400  # the published rule loses these pixels
    assert np.array_equal(ndimage.binary_fill_holes(mask), mask)
    assert ndimage.label(mask)[1] == 1
    assert not mask[5, 2]
    assert (mask != truth).sum() <= 0.03 * truth.sum()  # the hull of a discretised arc
    assert not (truth & ~mask)[:80].any()  # nothing of the cone lost above the far arc


def test_sector_masks_of_real_images_are_solid_and_cover_the_cone(small_extract):
    for path in sorted(small_extract.glob("*/images/*/*.png")):
        image = read_png(path)
        mask = sector_mask(image)
        assert np.array_equal(ndimage.binary_fill_holes(mask), mask)
        assert ndimage.label(mask)[1] == 1
        assert not (image > 0)[~mask].any()
        assert 0.4 < mask.mean() < 0.7


NO_CHANGE = AugmentationParams(rotation_deg=0, shear_deg=0, scale=(1, 1), max_shift_fraction=0,
                               max_displacement_px=0)


def test_augmentation_without_range_is_the_identity():
    label_map = np.random.default_rng(0).integers(0, 5, (50, 40)).astype(np.uint8)
    assert np.array_equal(augment_map(label_map, np.random.default_rng(1), NO_CHANGE), label_map)


def test_scale_shrinks_about_the_centre_and_fills_outside_with_zero():
    label_map = np.full((64, 64), 2, np.uint8)
    shrink = replace(NO_CHANGE, scale=(0.8, 0.8))
    out = augment_map(label_map, np.random.default_rng(0), shrink)
    rows, cols = np.nonzero(out)
    assert out[0, 0] == 0 and out[32, 32] == 2
    assert abs(rows.mean() - 31.5) < 0.6 and abs(cols.mean() - 31.5) < 0.6
    assert (out == 2).mean() == pytest.approx(0.64, abs=0.03)


def test_vertical_shift_only():
    label_map = np.zeros((100, 100), np.uint8)
    label_map[40:60, 40:60] = 1
    shift_only = replace(NO_CHANGE, max_shift_fraction=0.05)
    for k in range(5):
        out = augment_map(label_map, np.random.default_rng(k), shift_only)
        rows, cols = np.nonzero(out)
        assert cols.min() == 40 and cols.max() == 59
        assert abs(rows.min() - 40) <= 5 and rows.max() - rows.min() == 19


def test_elastic_field_is_bounded_smooth_and_scales_with_size():
    params = AugmentationParams()
    for size in (64, 256):
        fields = [random_displacement(np.random.default_rng(i), (size, size), params)
                  for i in range(20)]
        largest = max(np.abs(f).max() for f in fields)
        assert 0.3 * 30 * size / 256 < largest <= 30 * size / 256  # never beyond the coefficients
        assert max(np.abs(f[:, 0]).max() for f in fields) < 0.2 * 30 * size / 256  # border ~ fixed
    weights = bspline_weights(10, 256)
    assert np.allclose(weights[40:-40].sum(axis=1), 1.0)  # partition of unity inside


def test_streams_differ_per_map_and_k_and_repeat():
    def draw(seed, stem, k):
        return augmentation_rng(seed, stem, k).random(4)

    assert np.array_equal(draw(0, "patient0001_2CH_ED_training", 3),
                          draw(0, "patient0001_2CH_ED_training", 3))
    assert not np.array_equal(draw(0, "patient0001_2CH_ED_training", 3),
                              draw(0, "patient0001_2CH_ED_training", 4))
    assert not np.array_equal(draw(0, "patient0001_2CH_ED_training", 3),
                              draw(0, "patient0002_2CH_ED_training", 3))
    assert not np.array_equal(draw(0, "patient0001_2CH_ED_training", 3),
                              draw(1, "patient0001_2CH_ED_training", 3))


def copy_extract(small_extract: Path, dest: Path, view="2CH_ED") -> Path:
    shutil.copytree(small_extract / view, dest / view)
    return dest


@pytest.mark.parametrize("damage, message", [
    ("label_value", "label values [6] outside 0..3"),
    ("size", "differs from the image"),
    ("missing_pair", "file not found (its pair exists)"),
    ("blank", "blank image"),
    ("not_png", "not a readable image"),
])
def test_bad_input_names_the_file_and_writes_nothing(small_extract, tmp_path, capsys, damage,
                                                     message):
    extract = copy_extract(small_extract, tmp_path / "extract")
    labels = list_pngs(extract / "2CH_ED/annotations/validation")[-1]
    image = extract / "2CH_ED/images/validation" / labels.name
    bad = labels
    if damage == "label_value":
        write_png(labels, np.where(read_png(labels) == 3, 6, read_png(labels)).astype(np.uint8))
    elif damage == "size":
        write_png(labels, np.zeros((SMALL_SIZE, SMALL_SIZE + 1), np.uint8))
    elif damage == "missing_pair":
        labels.unlink()
    elif damage == "blank":
        write_png(image, np.zeros((SMALL_SIZE, SMALL_SIZE), np.uint8))
        bad = image
    else:
        labels.write_bytes(b"this is not a png")
    out = tmp_path / "out"
    expect_error(["--extract-dir", str(extract), "--out-dir", str(out), "--views", "2CH_ED"],
                 capsys, str(bad), message)
    assert not list(out.rglob("*.png"))


def test_empty_split_to_augment_and_missing_folder(small_extract, tmp_path, capsys):
    extract = copy_extract(small_extract, tmp_path / "extract")
    for kind in ("images", "annotations"):
        shutil.rmtree(extract / "2CH_ED" / kind / "validation")
    expect_error(["--extract-dir", str(extract), "--out-dir", str(tmp_path / "out"),
                  "--views", "2CH_ED"], capsys, "2CH_ED/images/validation", "no extracted frames")
    # asking to augment only training works on the same folder
    labels_main(["--extract-dir", str(extract), "--out-dir", str(tmp_path / "out"),
                 "--views", "2CH_ED", "--splits", "training", "--num-augment", "1"])
    assert len(list_pngs(tmp_path / "out/2CH_ED_augmented/sector_annotations/training")) == 4
    expect_error(["--extract-dir", str(tmp_path / "nowhere"), "--out-dir", str(tmp_path / "o")],
                 capsys, "nowhere", "extraction folder not found")


@pytest.mark.slow
def test_command_line(tmp_path):
    module = "data_preparation.prepare_labels"
    assert_help_lists(module, "--extract-dir", "--out-dir", "--num-augment", "--seed", "--views",
                      "--splits", "--threshold")
    failed = run_module(module, "--extract-dir", tmp_path, "--out-dir", tmp_path,
                        "--num-augment", "-1")
    assert failed.returncode == 2
    assert failed.stderr.strip() == "error: --num-augment -1: must be 0 or more"
