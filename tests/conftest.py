"""Shared test fixtures. Add fixtures by appending; keep each one cheap."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_CAMUS = (REPO.parent / "shared" / "camus_224").resolve()
VENV_BIN = Path(sys.executable).parent


REAL_DATA_REASON = (f"needs real CAMUS anatomy: {SHARED_CAMUS} is absent (a fresh clone); CI has "
                    "it beside the clone")


def has_real_camus() -> bool:
    return SHARED_CAMUS.is_dir()


@pytest.fixture(scope="session")
def camus_dir(tmp_path_factory) -> Path:
    """A CAMUS folder in the official NIfTI layout: the real one beside the clone
    (../shared/camus_224, always there in CI), or on a fresh clone without it the embedded
    CAMUS-format set of the same size (14 patients at 224 px, split 10/2/2, seed 0), so that every
    test that needs CAMUS files but not real anatomy runs everywhere."""
    if has_real_camus():
        return SHARED_CAMUS
    from embedded_camus.generate import make_synthetic_camus

    return make_synthetic_camus(tmp_path_factory.mktemp("embedded_camus_224"), num_patients=14,
                                seed=0, size=224)


@pytest.fixture(scope="session")
def real_camus_dir() -> Path:
    """../shared/camus_224 itself, for the few tests about real anatomy; skipped without it."""
    if not has_real_camus():
        pytest.skip(REAL_DATA_REASON)
    return SHARED_CAMUS


def split_of_patients(camus: Path) -> dict[str, str]:
    """patientNNNN -> its split, from the folder's database_split lists."""
    return {name: split for split in ("training", "validation", "testing")
            for name in (camus / "database_split" / f"subgroup_{split}.txt").read_text().split()}


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    """The folder of the running interpreter (holds mpiexec and torchrun of the venv)."""
    return VENV_BIN


def subprocess_env() -> dict[str, str]:
    """Environment for running the project's programs as subprocesses from the repository."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@pytest.fixture(scope="session")
def synthetic_camus_dir(tmp_path_factory) -> Path:
    """A tiny synthetic CAMUS-format set (6 patients, 64 px, seed 0; split 4/1/1) built once per session.

    Same layout as the official NIfTI release: database_nifti/patientNNNN/..., database_split/...
    Treat it as read-only (it is shared by every test of the session).
    """
    from embedded_camus.generate import make_synthetic_camus

    return make_synthetic_camus(tmp_path_factory.mktemp("synthetic_camus"), num_patients=6, seed=0,
                                size=64)


# --- data preparation (engineer A): small real extraction and label preparation -----------------
SMALL_SPLIT_COUNTS = {"training": 4, "validation": 2, "testing": 2}
SMALL_SIZE = 64


def small_patient_numbers(camus: Path) -> list[int]:
    """The first 4 training, 2 validation and 2 testing patients of the official split lists."""
    numbers = []
    for split, count in SMALL_SPLIT_COUNTS.items():
        names = (camus / "database_split" / f"subgroup_{split}.txt").read_text().split()
        numbers += [int(name.removeprefix("patient")) for name in names[:count]]
    return numbers


@pytest.fixture(scope="session")
def small_extract(camus_dir, tmp_path_factory) -> Path:
    """Step 1 on 8 real patients (4 training, 2 validation, 2 testing), 64 px, all four views.

    EXTRACT/<VIEW>/{images,annotations}/<split>/patientNNNN_<VIEW>_<split>.png: 32 pairs.
    """
    from data_preparation.extract_camus import main

    out = tmp_path_factory.mktemp("small_extract")
    main(["--camus-dir", str(camus_dir), "--out-dir", str(out), "--size", str(SMALL_SIZE),
          "--patients", *map(str, small_patient_numbers(camus_dir))])
    return out


@pytest.fixture(scope="session")
def small_labels(small_extract, tmp_path_factory) -> Path:
    """Step 2 on ``small_extract`` with 2 augmented maps per training/validation map (seed 0).

    LABELS/<VIEW>/{sector_annotations,images}/<split>/: 8 maps per view (4/2/2);
    LABELS/<VIEW>_augmented/sector_annotations/{training,validation}/<stem>_{0,1}.png: 12 per view.
    """
    from data_preparation.prepare_labels import main

    out = tmp_path_factory.mktemp("small_labels")
    main(["--extract-dir", str(small_extract), "--out-dir", str(out), "--num-augment", "2",
          "--seed", "0"])
    return out


def expect_user_error(program_main, argv, capsys, *fragments: str) -> str:
    """Run a program's main(argv); assert exit 2 and a last stderr line 'error: ...' naming fragments."""
    with pytest.raises(SystemExit) as exit_info:
        program_main(argv)
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    for fragment in fragments:
        assert fragment in last, last
    return last


# --- running a program as a command (python -m ...) ---------------------------------------------
import subprocess  # noqa: E402 (this section was appended; the file grows by appending)


def run_module(module: str, *args, **kwargs) -> subprocess.CompletedProcess:
    """``python -m module args`` from the repository, with its text output captured."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO,
                          env=subprocess_env(), capture_output=True, text=True, **kwargs)


def assert_help_lists(module: str, *options: str) -> None:
    """``python -m module --help`` exits 0 and names every one of ``options``."""
    shown = run_module(module, "--help")
    assert shown.returncode == 0
    for option in options:
        assert option in shown.stdout


def kill_when(command: list[str], ready, env: dict[str, str] | None = None,
              timeout_s: float = 120.0) -> None:
    """Run ``command`` from the repository and SIGKILL it as soon as ``ready()`` holds (or it
    ended, or ``timeout_s`` passed): a job killed part-way, for the resume tests."""
    import signal
    import subprocess
    import time

    process = subprocess.Popen(command, cwd=REPO, env=env or subprocess_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
