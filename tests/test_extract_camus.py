"""Extraction of CAMUS (both releases) to the step 1 PNG layout."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import nibabel
import numpy as np
import pytest
import SimpleITK as sitk

from data_preparation.extract_camus import main as extract_main
from echo_from_noise.contract import SPLITS, VIEWS
from echo_from_noise.files import list_pngs, read_png

from .conftest import (SMALL_SIZE, assert_help_lists, expect_user_error, has_real_camus,
                       run_module, small_patient_numbers, split_of_patients)


def nifti_frame(camus: Path, patient: str, view: str) -> tuple[np.ndarray, np.ndarray]:
    """A real frame read directly with nibabel, transposed to apex-up."""
    folder = camus / "database_nifti" / patient
    image = np.asarray(nibabel.load(folder / f"{patient}_{view}.nii.gz").dataobj).T
    labels = np.asarray(nibabel.load(folder / f"{patient}_{view}_gt.nii.gz").dataobj).T
    return image, labels


def write_mhd(path: Path, array: np.ndarray, spacing=(0.15, 0.3)) -> None:
    """A 2019-style MetaImage: 3-D with one slice, spacing (x = column, y = row)."""
    image = sitk.GetImageFromArray(array[None])
    image.SetSpacing((*spacing, 1.0))
    sitk.WriteImage(image, str(path))


def make_mhd_release(root: Path, camus: Path, patients: dict[str, tuple[str, str]],
                     views=VIEWS) -> Path:
    """A small 2019 release: folder/patientNNNN from the real frames of another patient."""
    for name, (folder, source) in patients.items():
        out = root / folder / name
        out.mkdir(parents=True, exist_ok=True)
        for view in views:
            image, labels = nifti_frame(camus, source, view)
            write_mhd(out / f"{name}_{view}.mhd", image)
            write_mhd(out / f"{name}_{view}_gt.mhd", labels)
    return root


def expect_error(argv: list[str], capsys, *fragments: str) -> str:
    return expect_user_error(extract_main, argv, capsys, *fragments)


def pngs(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.png"))


def test_small_real_extraction_layout_splits_and_labels(small_extract, camus_dir):
    split_of = {}
    for split in SPLITS:
        for name in (camus_dir / "database_split" / f"subgroup_{split}.txt").read_text().split():
            split_of[name] = split
    patients = [f"patient{n:04d}" for n in small_patient_numbers(camus_dir)]
    for view in VIEWS:
        for split in SPLITS:
            expected = sorted(f"{p}_{view}_{split}.png" for p in patients if split_of[p] == split)
            images = small_extract / view / "images" / split
            labels = small_extract / view / "annotations" / split
            assert [p.name for p in list_pngs(images)] == expected
            assert [p.name for p in list_pngs(labels)] == expected
            for name in expected:
                image, label = read_png(images / name), read_png(labels / name)
                assert image.shape == label.shape == (SMALL_SIZE, SMALL_SIZE)
                assert set(np.unique(label)) <= {0, 1, 2, 3}
                assert {1, 2, 3} <= set(np.unique(label))
                # apex at the top: the LV cavity lies above the left atrium
                rows = np.indices(label.shape)[0]
                assert rows[label == 1].mean() < rows[label == 3].mean()
    config = json.loads((small_extract / "extract_config.json").read_text())
    assert config["release"] == "nifti-2023" and config["size"] == SMALL_SIZE
    assert sum(config["frames"].values()) == 32
    spacing = json.loads((small_extract / "spacing.json").read_text())
    if has_real_camus():
        assert spacing == {}  # camus_224 has none (its README: the affine is the identity)
    else:  # the embedded set's headers give a pixel size
        assert len(spacing) == 32 and all(len(value) == 2 for value in spacing.values())


def test_full_size_extraction_equals_the_transposed_nifti(camus_dir, tmp_path):
    extract_main(["--camus-dir", str(camus_dir), "--out-dir", str(tmp_path), "--size", "224",
                  "--patients", "1", "--views", "4CH_ES"])
    image, labels = nifti_frame(camus_dir, "patient0001", "4CH_ES")
    split = split_of_patients(camus_dir)["patient0001"]
    stem = f"patient0001_4CH_ES_{split}"
    assert np.array_equal(read_png(tmp_path / "4CH_ES/images" / split / f"{stem}.png"), image)
    assert np.array_equal(read_png(tmp_path / "4CH_ES/annotations" / split / f"{stem}.png"),
                          labels)
    assert len(pngs(tmp_path)) == 2


def test_mhd_release_reads_like_nifti_with_2019_splits_and_spacing(camus_dir, tmp_path, capsys):
    root = make_mhd_release(tmp_path / "camus2019", camus_dir, {
        "patient0001": ("training", "patient0001"),  # 1-50: validation
        "patient0051": ("training", "patient0002"),  # training
        "patient0451": ("testing", "patient0003")}, views=("2CH_ED", "4CH_ES"))
    mhd_out, nifti_out = tmp_path / "from_mhd", tmp_path / "from_nifti"
    extract_main(["--camus-dir", str(root), "--out-dir", str(mhd_out), "--size", "64",
                  "--views", "2CH_ED", "4CH_ES"])
    extract_main(["--camus-dir", str(camus_dir), "--out-dir", str(nifti_out), "--size", "64",
                  "--views", "2CH_ED", "4CH_ES", "--patients", "1", "2", "3"])
    split_of = split_of_patients(camus_dir)
    pairs = {("patient0001", "validation"): ("patient0001", split_of["patient0001"]),
             ("patient0051", "training"): ("patient0002", split_of["patient0002"]),
             ("patient0451", "testing"): ("patient0003", split_of["patient0003"])}
    for view in ("2CH_ED", "4CH_ES"):
        for (patient, split), (source, source_split) in pairs.items():
            for kind in ("images", "annotations"):
                got = read_png(mhd_out / view / kind / split / f"{patient}_{view}_{split}.png")
                want = read_png(nifti_out / view / kind / source_split /
                                f"{source}_{view}_{source_split}.png")
                assert np.array_equal(got, want), (view, patient, kind)
    spacing = json.loads((mhd_out / "spacing.json").read_text())
    assert len(spacing) == 6
    assert spacing["patient0051_2CH_ED_training"] == pytest.approx([0.3 * 224 / 64, 0.15 * 224 / 64])
    assert json.loads((mhd_out / "extract_config.json").read_text())["release"] == "mhd-2019"
    assert len(pngs(mhd_out)) == 12


def test_mhd_testing_folder_without_labels_is_skipped(camus_dir, tmp_path, capsys):
    root = make_mhd_release(tmp_path / "camus2019", camus_dir, {
        "patient0060": ("training", "patient0001"), "patient0451": ("testing", "patient0002")},
        views=("2CH_ED",))
    for gt in (root / "testing").rglob("*_gt.*"):
        gt.unlink()
    extract_main(["--camus-dir", str(root), "--out-dir", str(tmp_path / "out"), "--views", "2CH_ED",
                  "--size", "32"])
    assert "testing split is skipped" in capsys.readouterr().err
    assert [p.name for p in pngs(tmp_path / "out")] == ["patient0060_2CH_ED_training.png"] * 2


def test_rerun_is_byte_identical_and_leaves_no_staging(camus_dir, tmp_path):
    argv = ["--camus-dir", str(camus_dir), "--out-dir", str(tmp_path), "--size", "48",
            "--patients", "5", "6", "--views", "2CH_ES"]
    extract_main(argv)
    first = {p: p.read_bytes() for p in pngs(tmp_path)}
    extract_main(argv)
    assert {p: p.read_bytes() for p in pngs(tmp_path)} == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2CH_ES", "extract_config.json",
                                                           "spacing.json"]


def test_not_a_camus_folder(tmp_path, capsys):
    (tmp_path / "stuff").mkdir()
    expect_error(["--camus-dir", str(tmp_path / "stuff"), "--out-dir", str(tmp_path / "out")],
                 capsys, "stuff", "not a CAMUS download")
    assert not (tmp_path / "out").exists()


def test_unknown_patient(camus_dir, tmp_path, capsys):
    expect_error(["--camus-dir", str(camus_dir), "--out-dir", str(tmp_path / "out"),
                  "--patients", "1", "499"], capsys, "patient0499", "not in this CAMUS download")


@pytest.mark.parametrize("damage, message", [
    ("label_value", "label values [7] outside 0..3"),
    ("size", "differs from image size"),
    ("missing", "file not found"),
    ("no_raw", "file not found (the data of"),
    ("short_raw", "has 6 bytes, header"),
    ("unreadable", "cannot read MetaImage"),
])
def test_bad_input_names_the_file_and_writes_nothing(camus_dir, tmp_path, capsys, damage, message):
    root = make_mhd_release(tmp_path / "camus2019", camus_dir, {
        "patient0051": ("training", "patient0001"), "patient0052": ("training", "patient0002")},
        views=("2CH_ED",))
    bad = root / "training/patient0052/patient0052_2CH_ED_gt.mhd"
    if damage == "label_value":
        _, labels = nifti_frame(camus_dir, "patient0002", "2CH_ED")
        write_mhd(bad, np.where(labels == 3, 7, labels).astype(np.uint8))
    elif damage == "size":
        write_mhd(bad, np.zeros((100, 90), np.uint8))
    elif damage == "missing":
        bad.unlink()
    elif damage == "no_raw":
        bad.with_suffix(".raw").unlink()
    elif damage == "short_raw":
        bad.with_suffix(".raw").write_bytes(b"broken")
    else:
        bad.write_text("not a MetaImage header\n")
    out = tmp_path / "out"
    expect_error(["--camus-dir", str(root), "--out-dir", str(out), "--views", "2CH_ED"], capsys,
                 str(bad), message)
    assert not out.exists()  # nothing, not even an empty output folder


@pytest.mark.slow
def test_short_raw_file_is_one_line_naming_both_sizes(camus_dir, tmp_path):
    root = make_mhd_release(tmp_path / "camus2019", camus_dir, {
        "patient0051": ("training", "patient0001")}, views=("2CH_ED",))
    header = root / "training/patient0051/patient0051_2CH_ED.mhd"
    raw = header.with_suffix(".raw")
    promised = raw.stat().st_size
    raw.write_bytes(raw.read_bytes()[:1000])
    out = tmp_path / "out"
    failed = run_module("data_preparation.extract_camus", "--camus-dir", root, "--out-dir", out)
    assert failed.returncode == 2
    assert failed.stderr.splitlines() == [  # nothing from SimpleITK, no progress bar
        f"error: {raw}: has 1000 bytes, header {header} promises {promised}"]
    assert not out.exists()


def nifti_release(synthetic: Path, root: Path, patients=("patient0001", "patient0002")) -> Path:
    """A 2023-layout CAMUS folder holding a copy of a few synthetic patients, all for training."""
    for patient in patients:
        shutil.copytree(synthetic / "database_nifti" / patient, root / "database_nifti" / patient)
    (root / "database_split").mkdir()
    for split in SPLITS:
        names = patients if split == "training" else ()
        (root / "database_split" / f"subgroup_{split}.txt").write_text("".join(
            f"{name}\n" for name in names))
    return root


def save_nifti(path: Path, array: np.ndarray) -> None:
    nibabel.save(nibabel.Nifti1Image(array, np.eye(4)), path)


@pytest.mark.parametrize("damage, message", [
    ("corrupt", "cannot read NIfTI"),
    ("truncated", "cannot read NIfTI"),
    ("payload", "cannot read NIfTI"),  # a valid gzip of half a file: nibabel's text has a newline
    ("4d", "expected a 2-D frame, got shape (64, 64, 2, 2)"),
    ("label_size", "differs from image size"),
    ("label_value", "label values [9] outside 0..3"),
])
def test_bad_nifti_names_the_file_and_creates_nothing(synthetic_camus_dir, tmp_path, capsys,
                                                      damage, message):
    folder = nifti_release(synthetic_camus_dir, tmp_path / "camus") / "database_nifti/patient0002"
    image, labels = folder / "patient0002_2CH_ED.nii.gz", folder / "patient0002_2CH_ED_gt.nii.gz"
    bad = labels if damage.startswith("label") else image
    if damage == "corrupt":
        image.write_bytes(b"not gzip")
    elif damage == "truncated":
        image.write_bytes(image.read_bytes()[:image.stat().st_size // 2])
    elif damage == "payload":
        raw = gzip.decompress(image.read_bytes())
        image.write_bytes(gzip.compress(raw[:len(raw) // 2]))
    elif damage == "4d":
        save_nifti(image, np.zeros((64, 64, 2, 2), np.uint8))
    elif damage == "label_size":
        save_nifti(labels, np.zeros((48, 64), np.uint8))
    else:
        values = np.asarray(nibabel.load(labels).dataobj).copy()
        values[0, 0] = 9
        save_nifti(labels, values)
    out = tmp_path / "out"
    expect_error(["--camus-dir", str(tmp_path / "camus"), "--out-dir", str(out), "--views",
                  "2CH_ED"], capsys, str(bad), message)
    assert not out.exists()


@pytest.mark.slow
def test_command_line_help_and_error_exit(tmp_path):
    module = "data_preparation.extract_camus"
    assert_help_lists(module, "--camus-dir", "--out-dir", "--size", "--views", "--patients")
    failed = run_module(module, "--camus-dir", tmp_path / "none", "--out-dir", tmp_path / "out")
    assert failed.returncode == 2
    assert failed.stderr.strip() == f"error: {tmp_path / 'none'}: CAMUS folder not found"
