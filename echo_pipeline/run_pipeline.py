"""The whole echo-from-noise pipeline with one command, from CAMUS to the paper's Table 1.

    data (CAMUS, or embedded synthetic CAMUS) -> extract -> sector maps + augmentation
    -> SDM training per chamber -> sampling from the augmented maps -> segmentation data sets
    -> segmentation training (per view, all synthetic frames, all real frames) -> testing on the
    real test split -> quality of the synthetic set (echo_segmentation.evaluate_synthetic: view
    classification, mask adherence, realism, memorisation, diversity) -> WORK/report.md (Table 1
    and the quality section) + WORK/real_vs_synthetic.png

Each stage runs its stage program (python -m ...) exactly as a user would, and hands data on only
through the folder conventions of docs/data_contract.md:

    WORK/pipeline_config.json   the effective configuration (preset + overrides), written first
    WORK/0_camus/               embedded CAMUS-format data (only without --camus-dir)
    WORK/1_extract/  2_labels/  3_samples/  4_segmentation_data/   steps 1-4
    WORK/sdm/<2CH|4CH>/         diffusion checkpoints     WORK/segmentation/<dataset>/  networks
    WORK/autoencoder/           the Gamma-VAE of --latent (latent diffusion)
    WORK/results/<dataset>/     test results (step 5)     WORK/.stages/<stage>.json  finished stages
    WORK/evaluation/            the synthetic set's quality (evaluation.json, report.md, figures)

A finished stage is skipped when the same command is asked again, and the stage programs resume
their own work (checkpoints, existing samples), so an interrupted pipeline continues where it
stopped when re-run with the same command.

Presets: smoke (tiny models on a CPU, minutes), fast (one GPU, 128 px), paper (the published
settings: 256 px, 8 GPUs through mpiexec, 1000-step DDPM, the paper's segmentation harness). Every
preset value can be overridden by its option.

Examples:
    python scripts/run_pipeline.py --preset smoke
    python scripts/run_pipeline.py --preset smoke --camus-dir ../shared/camus_224 --work-dir runs/camus
    python scripts/run_pipeline.py --preset paper --camus-dir /data/CAMUS_public --gpus 8
    python scripts/run_pipeline.py --preset paper --camus-dir /data/CAMUS_public --dry-run
    python scripts/run_pipeline.py --preset paper --camus-dir /data/CAMUS_public --gpus 8 \
        --launcher srun --slurm submit --slurm-options "--partition gpu --time 2-0"   (docs/cluster.md)
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from echo_from_noise.cli import config_to_dict, option_arguments, program, save_config
from echo_from_noise.errors import UserError
from echo_from_noise.files import check_writable

from .clone import PIPELINE_PROGRAM
from .config import PipelineConfig, resolve
from .folders import Folders
from .launch import check_launch
from .report import generator_text, real_vs_synthetic_figure, write_report
from .rows import SegmentationRow
from .slurm import REPORT_STAGE, SCHEDULER_OPTIONS, StageJob, submission_script, submit
from .stage_runner import StageChecker, StageRunner
from .stages import every_stage


def run(config: PipelineConfig) -> None:
    """Every stage in order (finished ones are skipped), then the report."""
    c = resolve(config)
    check_launch(c)
    folders = Folders(Path(c.work_dir).resolve(), c.camus_dir)
    every_stage(StageChecker(folders.work), c, folders)  # every stage's options and the CAMUS folder
    created = not folders.work.exists()
    if not (c.dry_run or c.slurm):
        check_writable(folders.work)
        save_config(c, folders.work / "pipeline_config.json")
    jobs: list[StageJob] | None = [] if c.slurm else None
    stages = StageRunner(folders.work, c.dry_run or bool(c.slurm), c.stage, jobs)
    try:
        datasets = every_stage(stages, c, folders)
    except UserError:
        if not any((folders.work / ".stages").glob("*.json")):  # nothing finished: leave nothing
            (folders.work / "pipeline_config.json").unlink(missing_ok=True)
            if created and not any(folders.work.iterdir()):
                folders.work.rmdir()
        raise
    if c.stage and c.stage not in (*stages.names, REPORT_STAGE):
        raise UserError(f"--stage {c.stage}: no such stage (stages: {', '.join(stages.names)}, "
                        f"{REPORT_STAGE})")
    if jobs is not None:
        script = submission_script(c, pipeline_command(c, folders), jobs, folders.work / "slurm")
        if c.slurm == "print":
            print(script, end="")
        else:
            submit(script)
        return
    if c.dry_run:
        print("dry run: nothing was run or written")
        return
    if c.stage not in ("", REPORT_STAGE):
        return
    report(c, folders, datasets)
    print(f"report: {folders.work / 'report.md'} ({(time.time() - stages.started) / 60:.1f} min)")


def pipeline_command(c: PipelineConfig, folders: Folders) -> list[str]:
    """This pipeline as one command with every option explicit (folders absolute), less the
    options of --slurm: what each SLURM job of a stage runs (with --stage)."""
    values = config_to_dict(c) | {"work_dir": str(folders.work),
                                  "camus_dir": str(folders.camus) if c.camus_dir else None}
    return [sys.executable, str(PIPELINE_PROGRAM),
            *(arg for name, value in values.items() if name not in SCHEDULER_OPTIONS
              for arg in option_arguments(name, value))]


def report(c: PipelineConfig, folders: Folders, datasets: list[SegmentationRow]) -> None:
    """WORK/report.md (Table 1 beside the published rows, the settings) and its figure."""
    figure = real_vs_synthetic_figure(folders.samples, list(c.views),
                                      folders.work / "real_vs_synthetic.png")
    settings = "\n".join(f"- `{key}`: {json.dumps(value)}" for key, value in config_to_dict(c).items())
    write_report({row: folders.results / row.name for row in datasets}, folders.work / "report.md",
                 figure, settings, generator_text(folders.samples, list(c.views)),
                 folders.evaluation)


main = program(PipelineConfig, run, __doc__)  # a stage that fails says why, in one line


if __name__ == "__main__":
    main()
