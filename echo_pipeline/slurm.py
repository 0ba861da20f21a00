"""The pipeline's stages as SLURM jobs (--slurm print | submit).

Each stage that is not finished becomes one job of scripts/slurm/pipeline_stage.sbatch, submitted
after the previous one with --dependency=afterok (a failed stage cancels nothing by itself: the
jobs after it stay pending with reason DependencyNeverSatisfied; scancel them, fix, submit again).
The job runs this pipeline's own command with --stage NAME, so the stage runs exactly as it would
without SLURM and is recorded as finished in WORK/.stages/. A last job (--stage report) writes the
report. --slurm print writes the submission as a bash script on stdout (nothing is submitted);
--slurm submit runs that script and prints each stage's job id.

Resources of each job: one task (and a GPU when --gpus > 0, except for the data stages); the
multi-process stages (Gamma-VAE, diffusion training, sampling) with --gpus G > 1 ask for what
--launcher needs: G tasks of one GPU (srun, mpiexec) or G GPUs on one node (torchrun).
--slurm-options (partition, time, account, ...) come last, so they override these.
"""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

from echo_from_noise.errors import UserError

from .clone import REPO, STAGE_TEMPLATE

REPORT_STAGE = "report"
# The pipeline's own options that only say how to hand stages to SLURM: not passed to the jobs.
SCHEDULER_OPTIONS = ("slurm", "slurm_options", "stage", "dry_run")


class StageJob(NamedTuple):
    """One stage to submit: its name, its command (shown in the script) and what it needs: cpu,
    gpu (one process) or gpus (one process per GPU through --launcher)."""

    name: str
    command: list[str]
    kind: str


def resources(c: Any, kind: str) -> list[str]:
    """sbatch options for a stage's resources (see the module text)."""
    gpu = ["--gpus-per-task", "1"] if c.gpus > 0 and kind != "cpu" else []
    if not (kind == "gpus" and c.gpus > 1):
        return ["--ntasks", "1", *gpu]
    if c.launcher == "torchrun":
        if c.nnodes > 1:
            raise UserError("--slurm with --launcher torchrun runs on one node: use --launcher "
                            "srun for several nodes")
        return ["--nodes", "1", "--ntasks", "1", "--gpus", str(c.gpus)]
    return ["--ntasks", str(c.gpus), *gpu]


def submission_script(c: Any, pipeline: list[str], jobs: list[StageJob], log_dir: Path) -> str:
    """A bash script that submits ``jobs`` in order, each after the previous one succeeded."""
    extra = shlex.split(c.slurm_options)
    lines = ["#!/bin/bash",
             "# The pipeline's stages as SLURM jobs, each after the previous one succeeded",
             "# (written by scripts/run_pipeline.py --slurm; template: "
             f"{STAGE_TEMPLATE.relative_to(REPO)}).",
             "set -euo pipefail",
             f"mkdir -p {shlex.quote(str(log_dir))}",
             f"export EFN_PIPELINE={shlex.quote(shlex.join(pipeline))}",
             "job="]
    for job in [*jobs, StageJob(REPORT_STAGE, [], "cpu")]:
        options = ["--parsable", "--job-name", f"efn-{job.name}",
                   "--output", str(log_dir / f"{job.name}-%j.out"), *resources(c, job.kind),
                   *extra]
        if job.command:
            lines.append(f"# {job.name}: {shlex.join(job.command)}")
        lines += [f"job=$(EFN_STAGE={job.name} sbatch {shlex.join(options)} "
                  f"${{job:+--dependency=afterok:$job}} {shlex.quote(str(STAGE_TEMPLATE))})",
                  "job=${job%%;*}",
                  f'echo "{job.name}: job $job"']
    return "\n".join(lines) + "\n"


def submit(script: str) -> None:
    """Run the submission script (sbatch must be on PATH); its lines name each stage's job."""
    try:
        result = subprocess.run(["bash", "-c", script], text=True, capture_output=True)
    except OSError as error:
        raise UserError(f"--slurm submit: cannot run bash: {error}") from None
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise UserError(f"--slurm submit: sbatch failed: {last} (jobs submitted before it are "
                        "listed above)")
