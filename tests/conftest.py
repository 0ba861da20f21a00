"""Shared test fixtures. Add fixtures by appending; keep each one cheap."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_CAMUS = (REPO.parent / "shared" / "camus_224").resolve()
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def camus_dir() -> Path:
    """The real CAMUS folder beside the clone (../shared/camus_224); CI always has it."""
    if not SHARED_CAMUS.is_dir():
        pytest.fail(f"real CAMUS data not found at {SHARED_CAMUS}")
    return SHARED_CAMUS


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
