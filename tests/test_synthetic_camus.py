"""The embedded synthetic CAMUS-format data set (embedded_camus.generate)."""
from __future__ import annotations

import json
import shutil

import nibabel
import numpy as np
import pytest

from echo_from_noise.contract import SPLITS, VIEWS
from embedded_camus import generate as synthetic_camus
from embedded_camus.generate import make_synthetic_camus, render_patient

from .conftest import assert_help_lists, run_module

PATIENTS = [f"patient{n:04d}" for n in range(1, 7)]


def load(path):
    return np.asarray(nibabel.load(str(path)).dataobj)


def frames_of(root, patient):
    """view -> (image, labels) read back from the NIfTI files, transposed (apex at the top)."""
    folder = root / "database_nifti" / patient
    return {v: (load(folder / f"{patient}_{v}.nii.gz").T,
                load(folder / f"{patient}_{v}_gt.nii.gz").T) for v in VIEWS}


def test_layout_and_split_files_match_the_official_release(synthetic_camus_dir):
    root = synthetic_camus_dir
    assert sorted(p.name for p in (root / "database_nifti").iterdir()) == PATIENTS
    for patient in PATIENTS:
        names = sorted(p.name for p in (root / "database_nifti" / patient).iterdir())
        assert names == sorted(f"{patient}_{v}{s}.nii.gz" for v in VIEWS for s in ("", "_gt"))
        for name in names:
            volume = nibabel.load(str(root / "database_nifti" / patient / name))
            assert volume.shape == (64, 64) and volume.get_data_dtype() == np.uint8
            assert volume.header.get_xyzt_units()[0] == "mm"
            assert 0.3 < volume.header.get_zooms()[1] < 5  # a plausible pixel size
    lists = {}
    for split in SPLITS:
        text = (root / "database_split" / f"subgroup_{split}.txt").read_text()
        assert text.endswith("\n") and "\r" not in text  # one name per line, as camus_224
        lists[split] = text.split()
        assert lists[split] == sorted(lists[split])
    assert [len(lists[s]) for s in SPLITS] == [4, 1, 1]
    assert sorted(sum(lists.values(), [])) == PATIENTS  # disjoint, complete
    saved = json.loads((root / synthetic_camus.CONFIG_FILE).read_text())
    assert (saved["num_patients"], saved["seed"], saved["size"]) == (6, 0, 64)


def test_orientation_matches_camus(synthetic_camus_dir, real_camus_dir):
    """Stored like camus_224: axis 0 across the sector, apex on the left (axis 1 is depth)."""
    real = load(real_camus_dir / "database_nifti/patient0001/patient0001_2CH_ED.nii.gz")
    ours = load(synthetic_camus_dir / "database_nifti/patient0001/patient0001_2CH_ED.nii.gz")
    for stored in (real, ours):
        n = stored.shape[0]
        width = (stored > 0).mean(axis=0)  # fraction of axis 0 inside the sector, per depth
        assert width[1] < 0.1 and width[n // 2] > 0.5  # narrow at the probe, wide deeper
        near_probe = np.flatnonzero(stored[:, 2])
        assert abs(near_probe.mean() / n - 0.5) < 0.05  # the apex is centred across


def test_labels_and_geometry(synthetic_camus_dir):
    for patient in PATIENTS:
        frames = frames_of(synthetic_camus_dir, patient)
        for view, (image, labels) in frames.items():
            assert set(np.unique(labels)) == {0, 1, 2, 3}, (patient, view)
            rows = np.indices(labels.shape)[0]
            # apex up: the LV cavity lies above the left atrium
            assert rows[labels == 1].mean() < rows[labels == 3].mean()
            assert rows[labels == 2].min() < rows[labels == 1].min()  # myocardium caps the apex
            # blood is darker than myocardium
            assert image[labels == 1].mean() < 0.8 * image[labels == 2].mean(), (patient, view)
        for chamber in ("2CH", "4CH"):
            ed, es = frames[f"{chamber}_ED"][1], frames[f"{chamber}_ES"][1]
            assert (es == 1).sum() < (ed == 1).sum()  # systole empties the ventricle
            assert (es == 3).sum() > (ed == 3).sum()  # and fills the atrium


def test_sector_and_image_statistics():
    patient = render_patient(seed=0, number=2, size=64)
    sector = patient.sector
    assert 0.4 < sector.mean() < 0.8
    for image, labels in patient.frames.values():
        assert image.dtype == np.uint8
        assert not image[~sector].any() and not labels[~sector].any()  # exactly 0 outside
        assert (image[sector] > 0).mean() > 0.9 and image.max() == 255
    # apex at the top centre
    assert sector[2, 31:33].all() and not sector[:8, :8].any() and not sector[:8, -8:].any()


def test_deterministic_by_seed_and_extends_smaller_sets(tmp_path, synthetic_camus_dir):
    same = make_synthetic_camus(tmp_path / "same", num_patients=3, seed=0, size=64)
    other = make_synthetic_camus(tmp_path / "other", num_patients=3, seed=1, size=64)
    for patient in PATIENTS[:3]:
        for view in VIEWS:
            for suffix in ("", "_gt"):
                name = f"database_nifti/{patient}/{patient}_{view}{suffix}.nii.gz"
                # byte-identical files: same seed, same data, even inside a larger set
                assert (same / name).read_bytes() == (synthetic_camus_dir / name).read_bytes()
            a, b = (load(root / f"database_nifti/{patient}/{patient}_{view}.nii.gz")
                    for root in (same, other))
            assert not np.array_equal(a, b)


def test_interrupted_run_resumes_to_the_same_set(tmp_path, synthetic_camus_dir):
    root = shutil.copytree(synthetic_camus_dir, tmp_path / "set")
    victim = root / "database_nifti/patient0004/patient0004_4CH_ES_gt.nii.gz"
    victim.unlink()
    shutil.rmtree(root / "database_split")  # a killed run has not written the lists yet
    synthetic_camus.main(["--out-dir", str(root), "--num-patients", "6", "--size", "64",
                          "--no-figure"])
    reference = synthetic_camus_dir / victim.relative_to(root)
    assert victim.read_bytes() == reference.read_bytes()
    assert (root / "database_split/subgroup_testing.txt").read_text() == (
        synthetic_camus_dir / "database_split/subgroup_testing.txt").read_text()


@pytest.mark.parametrize("args, message", [
    (["--num-patients", "0"], "--num-patients 0"),
    (["--size", "8"], "--size 8"),
    (["--testing-fraction", "0.7"], "--testing-fraction 0.7"),
])
def test_bad_options_give_one_line_errors(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        synthetic_camus.main(["--out-dir", str(out), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()  # nothing written


def test_refuses_unwritable_or_foreign_output(tmp_path, capsys, synthetic_camus_dir):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cases = [
        (blocker / "out", [], "not writable"),
        (synthetic_camus_dir, ["--seed", "5"], "other settings"),  # would mix two data sets
    ]
    foreign = tmp_path / "real_camus"
    (foreign / "database_nifti").mkdir(parents=True)
    cases.append((foreign, [], "not made by this program"))
    for out, args, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            synthetic_camus.main(["--out-dir", str(out), "--num-patients", "6", "--size", "64",
                                  *args])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and message in err and "\n" not in err, err
    assert sorted(p.name for p in foreign.iterdir()) == ["database_nifti"]


@pytest.mark.slow
def test_command_line_writes_set_and_figure(tmp_path):
    out = tmp_path / "cli"
    result = run_module("embedded_camus.generate", "--out-dir", out, "--num-patients", "3",
                        "--size", "32", "--seed", "7", timeout=120)
    assert result.returncode == 0, result.stderr
    figure = out / synthetic_camus.FIGURE_FILE
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list(out.glob("database_nifti/*/*.nii.gz"))) == 24
    assert json.loads((out / synthetic_camus.CONFIG_FILE).read_text())["seed"] == 7


@pytest.mark.slow
def test_both_commands_show_their_options():
    assert_help_lists("embedded_camus.generate", "--out-dir", "--num-patients", "--seed", "--size",
                      "--validation-fraction", "--testing-fraction", "--no-figure")
    assert_help_lists("embedded_camus.figure", "--camus-dir", "--out", "--patients", "--dpi")


def test_extraction_reads_the_set_unchanged(tmp_path, synthetic_camus_dir):
    from data_preparation import extract_camus
    from echo_from_noise.files import read_label_png, read_png

    out = tmp_path / "extract"
    extract_camus.main(["--camus-dir", str(synthetic_camus_dir), "--out-dir", str(out),
                        "--size", "64"])
    testing = (synthetic_camus_dir / "database_split/subgroup_testing.txt").read_text().split()
    for view in VIEWS:
        for split, count in zip(SPLITS, (4, 1, 1)):
            assert len(list((out / view / "images" / split).glob("*.png"))) == count
        stem = f"{testing[0]}_{view}_testing"
        image = read_png(out / view / "images" / "testing" / f"{stem}.png")
        labels = read_label_png(out / view / "annotations" / "testing" / f"{stem}.png", 4)
        original_image, original_labels = frames_of(synthetic_camus_dir, testing[0])[view]
        np.testing.assert_array_equal(labels, original_labels)  # same size: no resampling
        np.testing.assert_array_equal(image, original_image)
