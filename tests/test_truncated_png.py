"""A truncated PNG, given to any program that reads PNGs, is one line on stderr and exit status 2.

OpenCV reports a broken PNG from C++, straight to the terminal; the programs must say it once, in
their own words, naming the file. The programs run as subprocesses so that output is captured too.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from echo_from_noise.files import list_pngs
from tests.conftest import REPO, subprocess_env
from tests.test_seg_errors import TINY, checkpoint  # noqa: F401 (checkpoint is a fixture)

pytestmark = pytest.mark.slow  # every test runs a program as a subprocess


def truncated_copy(small_extract: Path, root: Path, split: str) -> tuple[Path, Path]:
    """A copy of one view of the small extraction with the first image of ``split`` cut in half."""
    shutil.copytree(small_extract / "2CH_ED", root / "2CH_ED")
    victim = list_pngs(root / "2CH_ED" / "images" / split)[0]
    victim.write_bytes(victim.read_bytes()[:victim.stat().st_size // 2])
    return root, victim


def run_failing(module: str, *args) -> str:
    """Run a program; assert exit 2 and a stderr of exactly one 'error:' line, and return it."""
    result = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO,
                            env=subprocess_env(), capture_output=True, text=True, timeout=300)
    lines = result.stderr.splitlines()  # also splits at carriage returns
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_real_dataset_from_a_truncated_extraction(small_extract, tmp_path):
    extract, victim = truncated_copy(small_extract, tmp_path / "extract", "training")
    out = tmp_path / "seg"
    line = run_failing("data_preparation.prepare_segmentation_data", "--source", "real",
                       "--extract-dir", extract, "--out-dir", out, "--views", "2CH_ED")
    assert line == f"error: {victim}: truncated or corrupt PNG"
    assert not out.exists()


def test_segmentation_training_on_a_truncated_image(small_extract, tmp_path):
    data, victim = truncated_copy(small_extract, tmp_path / "data", "training")
    out = tmp_path / "run"
    line = run_failing("echo_segmentation.train", "--data-dir", data / "2CH_ED", "--out-dir", out,
                       *TINY)
    assert line == f"error: {victim}: truncated or corrupt PNG"
    assert not out.exists()


def test_segmentation_testing_on_a_truncated_image(small_extract, checkpoint, tmp_path):
    extract, victim = truncated_copy(small_extract, tmp_path / "extract", "testing")
    out = tmp_path / "results"
    line = run_failing("echo_segmentation.test", "--checkpoint", checkpoint, "--data-dir", extract,
                       "--out-dir", out)
    assert line == f"error: {victim}: truncated or corrupt PNG"
    assert not out.exists()
