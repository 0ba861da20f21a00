"""The training program's bad input and failures: one 'error:' line, exit 2, nothing created."""
from __future__ import annotations

import os
import pickle
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_from_noise import storage
from echo_from_noise.files import read_png, write_png
from semantic_diffusion_model.training.data import read_map

from .conftest import REPO, subprocess_env
from .test_sdm_train import run_main, train_args

DISK_BYTES = 2 * 1024 * 1024  # room for config.json and progress.csv, not for a checkpoint
# "training: 100%|####| 1/1 [00:01<00:00, 1.0s/step, loss=1.1]"
PROGRESS_BAR = re.compile(r"[\w ]*: *\d+%\|[^|\r\n]*\|[^\[\r\n]*\[[^\]\r\n]*\]")


def corrupt_copy(small_labels: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "labels"
    shutil.copytree(small_labels / "2CH_ED", copy / "2CH_ED")
    return copy


def training_maps(data: Path) -> list[Path]:
    return sorted((data / "2CH_ED" / "sector_annotations" / "training").glob("*.png"))


def image_of(data: Path, map_path: Path) -> Path:
    return data / "2CH_ED" / "images" / "training" / map_path.name


def assert_refused(data: Path, tmp_path: Path, capsys, expected: str, *options: str) -> None:
    """Training exits 2 with one error line holding ``expected`` and creates no --out-dir."""
    out = tmp_path / "out"
    code, err = run_main(train_args(data, out, *options), capsys)
    assert code == 2 and expected in err, err
    assert not out.exists()


@pytest.mark.parametrize("problem", ["no_pairs", "empty_data_dir", "bad_value", "map_size",
                                     "image_size", "missing_image"])
def test_bad_data_is_a_one_line_error_and_creates_nothing(problem, small_labels, tmp_path, capsys):
    data = corrupt_copy(small_labels, tmp_path)
    maps = training_maps(data)
    views = ["--views", "2CH_ED"]
    if problem == "no_pairs":
        views = ["--views", "4CH_ES"]
        expected = "no map/image pairs"
    elif problem == "empty_data_dir":
        data = tmp_path / "empty"
        data.mkdir()
        expected = f"{data}: no map/image pairs"
    elif problem == "bad_value":
        labels = read_png(maps[1])
        labels[0, 0] = 9
        write_png(maps[1], labels)
        expected = f"{maps[1]}: label values [9] outside 0..4"
    elif problem == "map_size":
        write_png(maps[2], np.zeros((40, 40), np.uint8))
        expected = f"{image_of(data, maps[2])}: image size 64x64 differs from its map {maps[2]} (40x40)"
    elif problem == "image_size":
        write_png(image_of(data, maps[2]), np.zeros((40, 40), np.uint8))
        expected = f"{image_of(data, maps[2])}: image size 40x40 differs from its map"
    else:
        image_of(data, maps[0]).unlink()
        expected = f"{maps[0]}: no matching image"
    assert_refused(data, tmp_path, capsys, expected, *views)


class Exploit:
    """Unpickling this would create ``marker``: a checkpoint must never run code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.mark.parametrize("kind", ["random_bytes", "segmentation_checkpoint", "malicious_pickle",
                                  "malicious_checkpoint"])
def test_resume_from_a_foreign_file_is_refused_and_creates_nothing(kind, small_labels, tmp_path, capsys):
    resume, marker = tmp_path / "resume.pt", tmp_path / "exploited"
    expected = f"{resume}: not a readable checkpoint"
    if kind == "random_bytes":
        resume.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "segmentation_checkpoint":  # what echo_segmentation.train writes
        torch.save({"kind": "echo_segmentation.unet", "config": {"image_size": 64},
                    "normalisation": {"mean": 0.2, "std": 0.1}, "model": {"w": torch.zeros(3)},
                    "epoch": 2, "optimizer": {}}, resume)
        expected = f"{resume}: not a semantic diffusion model checkpoint"
    elif kind == "malicious_pickle":
        resume.write_bytes(pickle.dumps({"model": Exploit(marker)}))
    else:
        torch.save({"format": "echo-from-noise/sdm-checkpoint", "model": Exploit(marker)}, resume)
    assert_refused(small_labels, tmp_path, capsys, expected, "--resume", str(resume))
    assert not marker.exists()


def test_unwritable_output_folder(small_labels, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = run_main(train_args(small_labels, blocker / "out"), capsys)
    assert code == 2 and "output folder is not writable" in err


@pytest.mark.parametrize("options, expected", [
    (["--image-size", "33"], "--image-size 33 must be divisible by 2 "),
    (["--image-size", "34", "--channel-mult", "1", "2", "2"], "--image-size 34 must be divisible by 4 "),
    (["--num-head-channels", "24"], "--num-head-channels 24"),
    (["--num-head-channels", "0"], "--num-head-channels must be >= 1"),
])
def test_network_options_the_model_cannot_take(options, expected, small_labels, tmp_path, capsys):
    assert_refused(small_labels, tmp_path, capsys, expected, *options)


def test_image_size_error_names_sizes_that_work(small_labels, tmp_path, capsys):
    code, err = run_main(train_args(small_labels, tmp_path / "out", "--image-size", "33"), capsys)
    assert code == 2 and "e.g. 32 or 34" in err, err


def run_training(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "semantic_diffusion_model.train", *args], cwd=REPO,
                          env=subprocess_env(), capture_output=True, text=True, timeout=300, **kwargs)


def only_error_line(stderr: str) -> str:
    """The one line of stderr once tqdm's progress bars are taken out (anything else, such as a
    library's warning printed on a bar's line, stays and fails the test)."""
    lines = [line for line in re.split(r"[\r\n]", PROGRESS_BAR.sub("", stderr)) if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def limit_file_size() -> None:
    """In the child: writes beyond DISK_BYTES fail with EFBIG instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (DISK_BYTES, DISK_BYTES))


@pytest.fixture
def small_disk(tmp_path):
    """(folder, preexec_fn) where a checkpoint does not fit: a real 2 MB tmpfs where this runs as
    root and may mount, else a file-size limit on the child process (works without privileges)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = (os.geteuid() == 0 and shutil.which("mount") is not None and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(folder)],
        capture_output=True).returncode == 0)
    try:
        yield folder, None if mounted else limit_file_size
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.slow
def test_full_disk_while_writing_a_checkpoint(small_disk, small_labels):
    folder, preexec = small_disk
    out = folder / "run"
    result = run_training(train_args(small_labels, out, "--max-steps", "1"), preexec_fn=preexec)
    assert result.returncode == 2, result.stderr
    error = only_error_line(result.stderr)
    assert error.startswith(f"error: {out / 'checkpoint_0000001.pt'}: cannot write ("), error
    assert not [p.name for p in out.iterdir() if p.suffix in (".pt", ".tmp")]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["map", "image"])
def test_truncated_png_is_the_only_stderr_line(which, small_labels, tmp_path):
    data = corrupt_copy(small_labels, tmp_path)
    path = training_maps(data)[1]
    path = path if which == "map" else image_of(data, path)
    path.write_bytes(path.read_bytes()[:-200])
    out = tmp_path / "out"
    result = run_training(train_args(data, out, "--num-workers", "1"))
    assert result.returncode == 2, result.stderr
    assert only_error_line(result.stderr).startswith(f"error: {path}: "), result.stderr
    assert not out.exists()


def test_maps_from_urls_are_checked_and_named_by_their_url(small_labels, tmp_path, monkeypatch):
    local = tmp_path / "map.png"
    labels = read_png(training_maps(small_labels)[0])
    labels[3, 4] = 9
    write_png(local, labels)
    url = "gs://bucket/LABELS/map.png"
    monkeypatch.setattr(storage, "is_url", lambda path: str(path).startswith("gs://"))
    monkeypatch.setattr(storage, "read_bytes", lambda path: local.read_bytes())
    with pytest.raises(Exception, match=re.escape(f"{url}: label values [9] outside 0..4")):
        read_map(url, 5)


@pytest.mark.parametrize("options,expected", [
    (["--formulation", "edm", "--sigma-data", "0"], "--sigma-data must be > 0, got 0.0"),
    (["--formulation", "vp", "--vp-epsilon-t", "2"], "--vp-epsilon-t must be in (0, 1), got 2.0"),
    (["--formulation", "ve", "--ve-sigma-min", "100", "--ve-sigma-max", "0.02"],
     "--ve-sigma-min must be > 0 and below --ve-sigma-max"),
    (["--formulation", "edm", "--p-std", "-1"], "--p-std must be > 0"),
])
def test_formulation_parameters_out_of_range_are_refused(options, expected, small_labels, tmp_path,
                                                         capsys):
    # before: --sigma-data 0 trained NaN at every step and ended with exit 0, --vp-epsilon-t 2
    # trained with an MSE of 3.4e9
    assert_refused(small_labels, tmp_path, capsys, expected, *options)


def test_a_run_without_one_finite_step_ends_with_an_error(small_labels, tmp_path, monkeypatch, capsys):
    # fewer steps than --max-nonfinite-steps, all of them non-finite: not a success
    from .test_sdm_train import poison_losses

    poison_losses(monkeypatch, "all")
    code, err = run_main(train_args(small_labels, tmp_path / "nan", "--max-steps", "2"), capsys)
    assert code == 2 and err.startswith("error: training never produced a finite loss: all 2 steps"), err


def test_sampler_noise_range_must_be_increasing():
    import math

    from echo_from_noise.errors import UserError
    from semantic_diffusion_model.samplers import Process, Sampler

    with pytest.raises(UserError, match="--sigma-min 5.0 must be below --sigma-max 1.0"):
        Sampler("heun", Process("edm", 0.002, math.inf), 4, sigma_min=5.0, sigma_max=1.0)
