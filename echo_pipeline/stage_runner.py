"""Running the stages: ``StageRunner`` runs each stage program as a subprocess (or prints it, or
collects it as a SLURM job) and remembers finished ones in WORK/.stages/; ``StageChecker`` runs
nothing and checks every stage's command line before the pipeline writes anything."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from echo_from_noise.cli import STAGE_VARIABLE, check_program_options
from echo_from_noise.errors import AlreadyReported, UserError
from echo_from_noise.files import atomic_path

from .clone import REPO
from .slurm import StageJob


class StageFailed(AlreadyReported):
    """A stage program stopped with its own one-line error (exit 2): nothing more to print."""


class StageRunner:
    """Runs stage programs as subprocesses; remembers finished ones in WORK/.stages/."""

    def __init__(self, work: Path, dry_run: bool = False, only: str = "",
                 jobs: list[StageJob] | None = None):
        """``only``: run that stage alone (--stage); ``jobs``: collect the unfinished stages there
        instead of running them (--slurm)."""
        self.work, self.dry_run, self.count, self.started = work, dry_run, 0, time.time()
        self.only, self.jobs, self.names = only, jobs, []
        self.outputs: dict[str, str] = {}  # each stage's output folder, to find who reads it
        self.redone: set[str] = set()      # stages run (or to be run) by this invocation
        self.env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run(self, name: str, command: list[str], kind: str = "gpu") -> None:
        """Run ``command`` unless the same command already finished. ``kind`` (what a SLURM job
        of the stage needs): cpu, gpu (one process) or gpus (one process per GPU, --launcher)."""
        self.count += 1
        self.names.append(name)
        inputs = [earlier for earlier, output in self.outputs.items()
                  if output and any(arg == output or arg.startswith(output + os.sep)
                                    for arg in command)]
        self.outputs[name] = output = stage_output(command)
        if self.only and name != self.only:
            return
        marker = self.work / ".stages" / f"{name}.json"
        if marker.is_file() and json.loads(marker.read_text())["command"] == command:
            redone = self.redone_since(marker, inputs)
            if not redone:
                if self.jobs is None:
                    print(f"[{self.count:2d}] {name}: done before, skipped", flush=True)
                return
            # what it read was made again: its finished output would only be resumed, so it goes
            print(f"[{self.count:2d}] {name}: {', '.join(redone)} ran again since; starting it "
                  "afresh", flush=True)
            if not self.dry_run and self.jobs is None:
                self.start_afresh(marker, Path(output))
        self.redone.add(name)
        if self.jobs is not None:
            self.jobs.append(StageJob(name, command, kind))
            return
        print(f"[{self.count:2d}] {name}: {shlex.join(command)}", flush=True)
        if self.dry_run:
            return
        start = time.time()
        result = subprocess.run(command, env={**self.env, STAGE_VARIABLE: name}, cwd=REPO)
        if result.returncode == 2:  # the stage's one error line (naming the stage) is the last
            raise StageFailed(name)
        if result.returncode != 0:
            raise UserError(f"stage {name} failed (exit {result.returncode}); its output is above; "
                            "re-run the same command to resume")
        seconds = time.time() - start
        marker.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(marker) as tmp:
            tmp.write_text(json.dumps({"command": command, "seconds": round(seconds, 1)}, indent=1))
        print(f"[{self.count:2d}] {name}: finished in {seconds:.1f} s "
              f"(pipeline {(time.time() - self.started) / 60:.1f} min)", flush=True)

    def start_afresh(self, marker: Path, output: Path) -> None:
        """Forget a finished stage: its marker, and its output folder when that lies in WORK."""
        marker.unlink()
        output = output.resolve()
        if output.is_relative_to(self.work.resolve()) and output.is_dir():
            shutil.rmtree(output)

    def redone_since(self, marker: Path, inputs: list[str]) -> list[str]:
        """The stages whose output this one reads that were run again after it finished (in this
        invocation, or in an earlier one stopped before this stage came): then its result is
        stale even though its own command did not change."""
        finished = marker.stat().st_mtime
        return [earlier for earlier in inputs if earlier in self.redone
                or ((other := self.work / ".stages" / f"{earlier}.json").is_file()
                    and other.stat().st_mtime > finished)]


def stage_output(command: list[str]) -> str:
    """The folder a stage writes: its --out-dir (with --dataset-name, the data set in it)."""
    def value(option: str) -> str | None:
        return command[command.index(option) + 1] if option in command else None
    out, name = value("--out-dir"), value("--dataset-name")
    return "" if out is None else os.path.join(out, name) if name else out


class StageChecker(StageRunner):
    """Runs nothing: checks each stage's command line with the stage program's own configuration
    and checks (echo_from_noise.cli.check_program_options), before the pipeline writes anything."""

    def run(self, name: str, command: list[str], kind: str = "gpu") -> None:
        self.names.append(name)
        if any(arg.startswith("<") for arg in command):  # a value known once earlier stages ran
            return
        module = command.index("-m") + 1
        try:
            check_program_options(command[module], command[module + 1:])
        except UserError as error:
            raise UserError(f"stage {name}: {error}") from None
