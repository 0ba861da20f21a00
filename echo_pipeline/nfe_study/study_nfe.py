"""Downstream Dice versus sampling cost (NFE) and training cost: the follow-up paper's central
claim, measured.

For each checkpoint, each sampler that fits it (--samplers) and each NFE budget (--nfe), this
samples every augmented label map of --labels-dir, builds a synthetic segmentation data set
(step 4), trains the segmentation harness on it for exactly --seg-epochs epochs, and tests it on
the real test split of --extract-dir. All rows share the maps, the seeds and the training schedule,
so they differ only in the generator. Give several checkpoints of one run (e.g. steps 150 and 600
of a run with --lr-schedule constant) to put Dice on the generator's training-compute axis. A run
is named <folder>_s<step>_<sampler>_nfe<NFE> after its checkpoint. Outputs (OUT):

    nfe_study.csv      one row per run: checkpoint, formulation, sampler, steps, NFE, training
                       steps and GFLOP of the generator, GFLOP and seconds per image, the
                       percentage of saturated (0 or 255) pixels inside the sector, Dice (%)
                       LV endo / LV epi / LA / mean with 95 % patient-bootstrap CIs
    nfe_study.md       the same as a Markdown table, with the commands' settings
    nfe_study.png      Dice versus NFE (log axis), one line per checkpoint and sampler
    nfe_study_cost.png mean Dice versus sampling GFLOP per image and versus training GFLOP
    samples/<run>/  seg_data/<run>/  segmentation/<run>/  results/<run>/   each run's stages
    study_config.json  the configuration;  .stages/   finished stages (re-running resumes)

GFLOP are counted by torch.utils.flop_counter (semantic_diffusion_model.flops): training = forward
and backward of every image the checkpoint saw; per image = NFE network evaluations plus the
decode of a latent model. A budget is met by the most steps whose NFE, as the sampler spends it on
that checkpoint, does not exceed it (Heun: 2 steps - 1 at most, less its Euler steps); the table
shows the NFE actually spent. --real-baseline adds a row trained on the real training frames
(NFE 0). Example (docs/sampling.md has the full study):

    python scripts/study_nfe.py --checkpoints runs/ddpm/checkpoint_0000400.pt \\
        runs/edm/checkpoint_0000400.pt --samplers ddpm heun euler edm:heun,s_churn=40 \\
        --nfe 5 10 20 35 --labels-dir runs/study/2_labels --extract-dir runs/study/1_extract \\
        --out-dir runs/nfe
"""
from __future__ import annotations

from pathlib import Path

from echo_from_noise.cli import program, save_config
from echo_from_noise.errors import UserError
from echo_from_noise.files import check_writable, write_csv

from ..stage_runner import StageRunner
from .config import StudyConfig
from .figures import write_cost_figure, write_figure
from .runs import run_stages, runs_of
from .sampler_spec import SamplerSpec
from .table import result_row, write_markdown


def study(c: StudyConfig) -> None:
    if not c.nfe or min(c.nfe) < 1:
        raise UserError("--nfe needs budgets >= 1")
    for text in c.samplers:
        SamplerSpec.parse(text)
    if c.seg_epochs < 1:
        raise UserError(f"--seg-epochs must be >= 1, got {c.seg_epochs}")
    for folder in (c.labels_dir, c.extract_dir):
        if not Path(folder).is_dir():
            raise UserError(f"{folder}: no such folder")
    runs = runs_of(c)
    out = Path(c.out_dir).resolve()
    if c.report_only:
        missing = [r["name"] for r in runs if not (out / "results" / r["name"] / "metrics.csv").is_file()]
        if missing:
            print(f"not finished yet, left out: {' '.join(missing)}")
        runs = [r for r in runs if r["name"] not in missing]
        if not runs:
            raise UserError(f"{out}: no finished runs yet")
    else:
        if not c.dry_run:
            check_writable(out)
            save_config(c, out / "study_config.json")
        stages = StageRunner(out, c.dry_run)
        for run in runs:
            run_stages(stages, c, run, out)
        if c.dry_run:
            print("dry run: nothing was run or written")
            return
    rows = [result_row(run, out, c.views) for run in runs]
    write_csv(out / "nfe_study.csv", list(rows[0]), rows)
    write_markdown(rows, c, out / "nfe_study.md")
    write_figure(rows, out / "nfe_study.png")
    write_cost_figure(rows, out / "nfe_study_cost.png")
    print(f"study: {out / 'nfe_study.csv'}, {out / 'nfe_study.md'}, {out / 'nfe_study.png'}, "
          f"{out / 'nfe_study_cost.png'}")


main = program(StudyConfig, study, __doc__)


if __name__ == "__main__":
    main()
