"""Extraction of CAMUS (both releases) to the step 1 PNG layout."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel
import numpy as np
import pytest
import SimpleITK as sitk

from data_preparation.extract_camus import main as extract_main
from data_preparation.files import list_pngs, read_png
from data_preparation.labels import SPLITS, VIEWS

from .conftest import SMALL_SIZE, expect_user_error, small_patient_numbers, subprocess_env


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
    assert json.loads((small_extract / "spacing.json").read_text()) == {}  # camus_224 has none


def test_full_size_extraction_equals_the_transposed_nifti(camus_dir, tmp_path):
    extract_main(["--camus-dir", str(camus_dir), "--out-dir", str(tmp_path), "--size", "224",
                  "--patients", "1", "--views", "4CH_ES"])
    image, labels = nifti_frame(camus_dir, "patient0001", "4CH_ES")
    stem = "patient0001_4CH_ES_training"
    assert np.array_equal(read_png(tmp_path / "4CH_ES/images/training" / f"{stem}.png"), image)
    assert np.array_equal(read_png(tmp_path / "4CH_ES/annotations/training" / f"{stem}.png"),
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
    pairs = {("patient0001", "validation"): ("patient0001", "training"),
             ("patient0051", "training"): ("patient0002", "training"),
             ("patient0451", "testing"): ("patient0003", "training")}
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
    else:
        bad.with_suffix(".raw").write_bytes(b"broken")
    out = tmp_path / "out"
    expect_error(["--camus-dir", str(root), "--out-dir", str(out), "--views", "2CH_ED"], capsys,
                 str(bad), message)
    assert not [p for p in out.rglob("*") if p.is_file()]  # nothing, not even a staging folder


def test_unreadable_nifti_is_reported(camus_dir, tmp_path, capsys):
    root = tmp_path / "camus"
    (root / "database_split").mkdir(parents=True)
    for split in SPLITS:
        (root / "database_split" / f"subgroup_{split}.txt").write_text(
            "patient0001\n" if split == "training" else "")
    folder = root / "database_nifti" / "patient0001"
    folder.mkdir(parents=True)
    for view in VIEWS:
        for suffix in ("", "_gt"):
            name = f"patient0001_{view}{suffix}.nii.gz"
            (folder / name).write_bytes((camus_dir / "database_nifti/patient0001" / name).read_bytes())
    (folder / "patient0001_4CH_ED.nii.gz").write_bytes(b"not gzip")
    expect_error(["--camus-dir", str(root), "--out-dir", str(tmp_path / "out")], capsys,
                 "patient0001_4CH_ED.nii.gz", "cannot read NIfTI")
    assert not pngs(tmp_path / "out")


def test_command_line_help_and_error_exit(tmp_path):
    module = [sys.executable, "-m", "data_preparation.extract_camus"]
    shown = subprocess.run(module + ["--help"], capture_output=True, text=True, env=subprocess_env())
    assert shown.returncode == 0
    for option in ("--camus-dir", "--out-dir", "--size", "--views", "--patients"):
        assert option in shown.stdout
    failed = subprocess.run(module + ["--camus-dir", str(tmp_path / "none"), "--out-dir",
                                      str(tmp_path / "out")],
                            capture_output=True, text=True, env=subprocess_env())
    assert failed.returncode == 2
    assert failed.stderr.strip() == f"error: {tmp_path / 'none'}: CAMUS folder not found"
