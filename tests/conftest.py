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


# --- long programs run early, on the second core ----------------------------------------------
# A whole pipeline spends most of its minute starting Python and importing torch and MONAI in one
# process after another, on one core. The few tests that only read such a run's result register
# it here (``early_run``); when any selected test needs one, the session starts them one after
# another in the background as soon as it begins, beside the other tests, and the test's fixture
# waits for the result (``background_runs``). What each test runs and asserts is unchanged: only
# when the program runs.
import signal  # noqa: E402
import threading  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable  # noqa: E402


@dataclass
class EarlyRun:
    """``make(folder, fixture_values)`` -> (command, extra environment) of a program run whose
    result the fixture ``name`` returns; ``needs``: session fixtures it takes as inputs."""

    name: str
    make: Callable[[Path, dict], tuple[list[str], dict[str, str]]]
    needs: tuple[str, ...] = ()


EARLY_RUNS: dict[str, EarlyRun] = {}


def early_run(name: str, *needs: str):
    """Decorator of a test module: ``make`` gives the command of the run that fixture ``name``
    returns through ``background_runs.result(name)`` (registered at import: at collection)."""
    def register(make):
        EARLY_RUNS[name] = EarlyRun(name, make, needs)
        return make
    return register


class BackgroundRun:
    """One program run with its output in files; started at most once. ``home``: the folder
    that ``EarlyRun.make`` was given."""

    def __init__(self, command: list[str], env: dict[str, str], home: Path):
        self.command, self.env, self.home = command, env, home
        self.folder = home / "log"
        self.folder.mkdir()
        self.process: subprocess.Popen | None = None
        self.lock, self.stopped = threading.Lock(), False

    def start(self) -> None:
        with self.lock:
            if self.process is None and not self.stopped:
                with open(self.folder / "stdout.txt", "w") as out, \
                        open(self.folder / "stderr.txt", "w") as err:
                    self.process = subprocess.Popen(self.command, cwd=REPO, env=self.env,
                                                    stdout=out, stderr=err, start_new_session=True)

    def result(self, timeout_s: float = 1200) -> subprocess.CompletedProcess:
        self.start()
        returncode = self.process.wait(timeout=timeout_s)
        return subprocess.CompletedProcess(self.command, returncode,
                                           (self.folder / "stdout.txt").read_text(),
                                           (self.folder / "stderr.txt").read_text())

    def stop(self) -> None:
        """Kill it if it runs (at the end of the session: a test that never came for it)."""
        with self.lock:
            self.stopped = True
            if self.process is not None and self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)  # the program and its stages
                self.process.wait()


class BackgroundRuns:
    """The session's early runs: one lane, one run at a time, in registration order."""

    def __init__(self, request, tmp_path_factory):
        self.request, self.tmp_path_factory = request, tmp_path_factory
        # now, before any test changes os.environ; one thread: the lane is the second core's
        self.env = {**subprocess_env(), "OMP_NUM_THREADS": "1"}
        self.runs: dict[str, BackgroundRun] = {}
        self.lane: threading.Thread | None = None
        self.queue: list[BackgroundRun] = []

    def prepare(self, name: str) -> BackgroundRun:
        """The run of ``name`` (its inputs made here, in the main thread), not started yet."""
        if name not in self.runs:
            early = EARLY_RUNS[name]
            values = {need: self.request.getfixturevalue(need) for need in early.needs}
            folder = self.tmp_path_factory.mktemp(name)
            command, extra_env = early.make(folder, values)
            self.runs[name] = BackgroundRun(command, {**self.env, **extra_env}, folder)
        return self.runs[name]

    def start_lane(self, names: list[str]) -> None:
        self.queue = [self.prepare(name) for name in names]

        def one_after_another():
            for run in self.queue:
                run.start()
                if run.process is not None:
                    run.process.wait()

        self.lane = threading.Thread(target=one_after_another, daemon=True)
        self.lane.start()

    def result(self, name: str) -> subprocess.CompletedProcess:
        """The finished run of ``name``. While the tests wait for it, the next run of the lane
        starts too (the core of the waiting tests is free)."""
        run = self.prepare(name)
        run.start()
        waiting = [other for other in self.queue if other.process is None]
        if waiting and run.process is not None and run.process.poll() is None:
            waiting[0].start()
        return run.result()

    def stop(self) -> None:
        for run in self.runs.values():
            run.stop()


@pytest.fixture(scope="session")
def background_runs(request, tmp_path_factory):
    runs = BackgroundRuns(request, tmp_path_factory)
    yield runs
    runs.stop()


@pytest.fixture(scope="session", autouse=True)
def start_early_runs(request):
    """Start, in the background, the early runs that the selected tests need (none in the quick
    tier, whose tests need none)."""
    items = request.session.items
    names = [name for name in EARLY_RUNS if any(name in item.fixturenames for item in items)]
    if names:
        request.getfixturevalue("background_runs").start_lane(names)
