"""The pipeline's launchers and its hand-over to SLURM, without running any stage program:
--launcher srun, torchrun's rendezvous form, --slurm print (the submission script), --stage."""
from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from echo_pipeline.run_pipeline import main

from .conftest import expect_user_error
from .test_pipeline import TINY, dry_run

SLURM_TEMPLATE = "scripts/slurm/pipeline_stage.sbatch"


def slurm_print(argv, capsys) -> str:
    main([*argv, "--slurm", "print"])
    return capsys.readouterr().out


def submissions(script: str) -> dict[str, str]:
    """The sbatch line of each stage, by stage name."""
    return dict(re.findall(r"^job=\$\(EFN_STAGE=(\S+) (sbatch .*)\)$", script, re.MULTILINE))


@pytest.mark.slow
def test_srun_launcher_and_torchrun_rendezvous_form(tmp_path, capsys):
    srun = dry_run([*TINY, "--work-dir", str(tmp_path), "--launcher", "srun", "--gpus", "2"], capsys)
    assert srun["sdm_train_2CH"].startswith("srun --ntasks 2 --kill-on-bad-exit=1 ")
    assert srun["extract"].split()[1:3] == ["-m", "data_preparation.extract_camus"]  # one process
    torchrun = dry_run([*TINY, "--work-dir", str(tmp_path), "--launcher", "torchrun", "--gpus", "4",
                        "--nnodes", "2", "--rdzv-endpoint", "node1:29500"], capsys)["sample_2CH"]
    assert (" --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint node1:29500 "
            "-m semantic_diffusion_model.sample") in torchrun and "--standalone" not in torchrun


@pytest.mark.parametrize("options, fragment", [
    (["--launcher", "torchrun", "--nnodes", "2"], "--nnodes 2 needs --rdzv-endpoint HOST:PORT"),
    (["--launcher", "mpiexec", "--nnodes", "2", "--rdzv-endpoint", "a:1"], "is for --launcher torchrun"),
    (["--stage", "sdm_train_3CH"], "--stage sdm_train_3CH: no such stage"),
    (["--launcher", "torchrun", "--gpus", "2", "--nnodes", "2", "--rdzv-endpoint", "a:1",
      "--slurm", "print"], "use --launcher srun"),
])
def test_bad_launch_options_are_one_line_errors(tmp_path, capsys, options, fragment):
    expect_user_error(main, [*TINY, "--work-dir", str(tmp_path / "w"), *options, "--dry-run"],
                      capsys, fragment)
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_slurm_print_is_a_chain_of_stage_jobs(tmp_path, capsys):
    work = tmp_path / "work"
    script = slurm_print([*TINY, "--work-dir", str(work), "--launcher", "srun", "--gpus", "2",
                          "--slurm-options", "--partition gpu --time 1:00:00"], capsys)
    assert not work.exists()  # nothing written, nothing submitted
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    jobs = submissions(script)
    assert list(jobs)[0] == "embedded_data" and list(jobs)[-1] == "report"
    assert list(jobs)[2:6] == ["labels", "sdm_train_2CH", "sample_2CH", "segmentation_data_all_views"]
    first, *later = jobs.values()
    assert "--dependency" not in script.split("EFN_STAGE=embedded_data")[0]
    assert all("${job:+--dependency=afterok:$job}" in line for line in [first, *later])
    for name, line in jobs.items():
        assert line.endswith(SLURM_TEMPLATE) and f"--output {work}/slurm/{name}-%j.out" in line
        assert line.index("--partition gpu --time 1:00:00") > line.index("--ntasks")  # last: overrides
    assert "--ntasks 2 --gpus-per-task 1" in jobs["sdm_train_2CH"] and "--ntasks 2" in jobs["sample_2CH"]
    assert "--ntasks 1 --partition" in jobs["extract"]  # data stages: one task, no GPU
    assert "--ntasks 1 --gpus-per-task 1" in jobs["segmentation_train_all_views"]
    pipeline = shlex.split(re.search(r"^export EFN_PIPELINE=(.*)$", script, re.MULTILINE).group(1))
    command = shlex.split(pipeline[0])
    assert command[1].endswith("scripts/run_pipeline.py") and "--slurm" not in command
    assert command[command.index("--work-dir") + 1] == str(work)
    assert command[command.index("--launcher") + 1] == "srun" and "--dry-run" not in command


@pytest.mark.slow
def test_stage_runs_one_stage_and_slurm_print_leaves_it_out(tmp_path, capsys):
    work = tmp_path / "work"
    main([*TINY, "--work-dir", str(work), "--stage", "embedded_data"])
    shown = capsys.readouterr().out
    assert "embedded_data: finished" in shown and "extract" not in shown
    assert [p.name for p in (work / ".stages").iterdir()] == ["embedded_data.json"]
    assert not (work / "1_extract").exists() and not (work / "report.md").exists()
    jobs = submissions(slurm_print([*TINY, "--work-dir", str(work)], capsys))
    assert list(jobs)[0] == "extract" and "embedded_data" not in jobs
    assert "--gpus-per-task" not in jobs["sdm_train_2CH"]  # --gpus 0 (the smoke preset): CPU
