"""The whole echo-from-noise pipeline with one command, from CAMUS to the paper's Table 1.

    data (CAMUS, or embedded synthetic CAMUS) -> extract -> sector maps + augmentation
    -> SDM training per chamber -> sampling from the augmented maps -> segmentation data sets
    -> segmentation training (per view, all synthetic frames, all real frames) -> testing on the
    real test split -> WORK/report.md (Table 1) + WORK/real_vs_synthetic.png

Each stage runs its stage program (python -m ...) exactly as a user would, and hands data on only
through the folder conventions of docs/data_contract.md:

    WORK/pipeline_config.json   the effective configuration (preset + overrides), written first
    WORK/0_camus/               embedded CAMUS-format data (only without --camus-dir)
    WORK/1_extract/  2_labels/  3_samples/  4_segmentation_data/   steps 1-4
    WORK/sdm/<2CH|4CH>/         diffusion checkpoints     WORK/segmentation/<dataset>/  networks
    WORK/results/<dataset>/     test results (step 5)     WORK/.stages/<stage>.json  finished stages

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
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

if __package__ in (None, ""):  # run as a file: python scripts/run_pipeline.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_preparation.camus_reader import open_camus
from echo_from_noise.errors import UserError
from echo_from_noise.cli import config_to_dict, parse_config, run_program, save_config
from echo_from_noise.files import atomic_path, check_writable
from echo_from_noise.contract import VIEWS
from scripts.pipeline_presets import PRESETS
from scripts.pipeline_report import real_vs_synthetic_figure, write_report

REPO = Path(__file__).resolve().parent.parent


@dataclass
class PipelineConfig:
    preset: str = field(default="smoke", metadata={
        "help": "settings filling every option below left unset", "choices": tuple(PRESETS)})
    work_dir: str = field(default="runs/pipeline", metadata={"help": "folder of every output"})
    camus_dir: Optional[str] = field(default=None, metadata={
        "help": "a CAMUS download (either release); default: generate the embedded synthetic "
                "CAMUS-format data set"})
    views: tuple[str, ...] = field(default=VIEWS, metadata={
        "help": "views to generate, segment and test", "choices": VIEWS})
    sdm_train_phases: tuple[str, ...] = field(default=("ED",), metadata={
        "help": "phases whose real frames train each chamber's SDM (the paper: ED only, sampled "
                "for ED and ES maps)", "choices": ("ED", "ES")})
    seg_per_view: bool = field(default=True, metadata={
        "help": "also train and test one segmentation network per view (the per-view rows)"})
    launcher: str = field(default="mpiexec", metadata={
        "help": "launcher of multi-GPU stages (with --gpus > 1)", "choices": ("mpiexec", "torchrun")})
    seed: int = field(default=0, metadata={"help": "seed of every stage"})
    dry_run: bool = field(default=False, metadata={
        "help": "print every stage's command (or that it is finished) and stop: nothing is run "
                "or written"})
    # --- preset values (None: taken from --preset) ---
    gpus: Optional[int] = field(default=None, metadata={
        "help": "GPUs for diffusion training and sampling (0 = CPU; >1 launches --launcher)"})
    num_patients: Optional[int] = field(default=None, metadata={
        "help": "patients of the embedded data set (without --camus-dir)"})
    data_size: Optional[int] = field(default=None, metadata={
        "help": "frame size of the embedded data set (pixels)"})
    train_patients: Optional[int] = field(default=None, metadata={
        "help": "use only the first N training patients and N/4 validation patients (0 = all); "
                "the test split is always complete"})
    image_size: Optional[int] = field(default=None, metadata={
        "help": "size of extracted frames, label maps and generated images (pixels)"})
    num_augment: Optional[int] = field(default=None, metadata={
        "help": "augmented label maps per real map (one synthetic image each)"})
    sdm_model_channels: Optional[int] = field(default=None, metadata={"help": "SDM base channels"})
    sdm_channel_mult: Optional[tuple[int, ...]] = field(default=None, metadata={
        "help": "SDM channel multipliers (empty: the published list for the size)"})
    sdm_num_res_blocks: Optional[int] = field(default=None, metadata={"help": "SDM res blocks per level"})
    sdm_attention_resolutions: Optional[tuple[int, ...]] = field(default=None, metadata={
        "help": "SDM attention resolutions (pixels)"})
    sdm_num_head_channels: Optional[int] = field(default=None, metadata={
        "help": "SDM channels per attention head"})
    sdm_spade_hidden: Optional[int] = field(default=None, metadata={
        "help": "SDM hidden channels of each SPADE label-map convolution"})
    sdm_batch_size: Optional[int] = field(default=None, metadata={"help": "SDM batch per GPU"})
    sdm_steps: Optional[int] = field(default=None, metadata={
        "help": "SDM training steps (the learning rate anneals to 0 over them)"})
    sdm_lr: Optional[float] = field(default=None, metadata={"help": "SDM learning rate"})
    sdm_ema_rate: Optional[float] = field(default=None, metadata={"help": "SDM EMA rate"})
    sampler: Optional[str] = field(default=None, metadata={
        "help": "sampler", "choices": ("ddpm", "ddim", "dpm-solver++", "heun")})
    sample_steps: Optional[int] = field(default=None, metadata={
        "help": "sampler steps (0 = the sampler's default; ddpm: all 1000)"})
    sample_batch_size: Optional[int] = field(default=None, metadata={"help": "maps per sampling batch"})
    seg_preset: Optional[str] = field(default=None, metadata={
        "help": "segmentation preset", "choices": ("default", "paper", "plain")})
    seg_image_size: Optional[int] = field(default=None, metadata={
        "help": "segmentation input size (empty: the segmentation preset's)"})
    seg_epochs: Optional[int] = field(default=None, metadata={"help": "segmentation epochs"})
    seg_max_minutes: Optional[float] = field(default=None, metadata={
        "help": "safety stop of each segmentation training (minutes; no preset sets one): a "
                "network it stops early is marked in the report as not comparable"})


def resolve(config: PipelineConfig) -> PipelineConfig:
    """Fill every unset preset value from the preset."""
    values = config_to_dict(config)
    for key, value in PRESETS[config.preset].items():
        if values[key] is None:
            values[key] = value
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return PipelineConfig(**values)


def option(name: str, value) -> list[str]:
    """``--name value`` (several values for a tuple), or nothing when the value is None."""
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [f"--{name}", *map(str, value)]
    return [f"--{name}", str(value)]


class StageRunner:
    """Runs stage programs as subprocesses; remembers finished ones in WORK/.stages/."""

    def __init__(self, work: Path, dry_run: bool = False):
        self.work, self.dry_run, self.count, self.started = work, dry_run, 0, time.time()
        self.env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run(self, name: str, command: list[str]) -> None:
        """Run ``command`` unless the same command already finished."""
        self.count += 1
        marker = self.work / ".stages" / f"{name}.json"
        if marker.is_file() and json.loads(marker.read_text())["command"] == command:
            print(f"[{self.count:2d}] {name}: done before, skipped", flush=True)
            return
        print(f"[{self.count:2d}] {name}: {shlex.join(command)}", flush=True)
        if self.dry_run:
            return
        start = time.time()
        result = subprocess.run(command, env=self.env, cwd=REPO)
        if result.returncode != 0:
            raise UserError(f"stage {name} failed (exit {result.returncode}); its output is above; "
                            "re-run the same command to resume")
        seconds = time.time() - start
        marker.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(marker) as tmp:
            tmp.write_text(json.dumps({"command": command, "seconds": round(seconds, 1)}, indent=1))
        print(f"[{self.count:2d}] {name}: finished in {seconds:.1f} s "
              f"(pipeline {(time.time() - self.started) / 60:.1f} min)", flush=True)


def select_patients(camus_dir: Path, limit: int) -> list[str]:
    """Patient numbers: all test patients, the first ``limit`` training and limit/4 validation ones."""
    split_of = open_camus(camus_dir).split_of
    keep = {"training": limit, "validation": max(1, limit // 4), "testing": len(split_of)}
    chosen = []
    for split, count in keep.items():
        chosen += sorted(p for p, s in split_of.items() if s == split)[:count]
    return [str(int(p.removeprefix("patient"))) for p in sorted(chosen)]


def run(config: PipelineConfig) -> None:
    c = resolve(config)
    work = Path(c.work_dir).resolve()
    if not c.dry_run:
        check_writable(work)
        save_config(c, work / "pipeline_config.json")
    stages = StageRunner(work, c.dry_run)
    py = [sys.executable, "-m"]
    if c.gpus > 1 and c.launcher == "mpiexec":
        mpiexec = Path(sys.executable).parent / "mpiexec"
        distributed = [str(mpiexec) if mpiexec.exists() else "mpiexec", "-n", str(c.gpus), *py]
    elif c.gpus > 1:
        distributed = [str(Path(sys.executable).parent / "torchrun"), "--standalone",
                       "--nproc_per_node", str(c.gpus), "-m"]
    else:
        distributed = py

    camus = Path(c.camus_dir).resolve() if c.camus_dir else work / "0_camus"
    if not c.camus_dir:
        stages.run("embedded_data", py + ["embedded_camus.generate", "--out-dir", str(camus),
                   "--num-patients", str(c.num_patients), "--size", str(c.data_size),
                   "--seed", str(c.seed)])
    extract, labels, samples = work / "1_extract", work / "2_labels", work / "3_samples"
    seg_data, results = work / "4_segmentation_data", work / "results"
    patients = []
    if c.train_patients and c.dry_run and not camus.exists():  # embedded data not generated yet
        patients = ["--patients", f"<all test, the first {c.train_patients} training and "
                    f"{max(1, c.train_patients // 4)} validation patients of {camus}>"]
    elif c.train_patients:
        patients = option("patients", select_patients(camus, c.train_patients))
    stages.run("extract", py + ["data_preparation.extract_camus", "--camus-dir", str(camus),
               "--out-dir", str(extract), "--size", str(c.image_size), *option("views", c.views),
               *patients])
    stages.run("labels", py + ["data_preparation.prepare_labels", "--extract-dir", str(extract),
               "--out-dir", str(labels), "--num-augment", str(c.num_augment), "--seed", str(c.seed),
               *option("views", c.views)])

    for chamber in sorted({v.split("_")[0] for v in c.views}):
        sdm = work / "sdm" / chamber
        steps = str(c.sdm_steps)
        stages.run(f"sdm_train_{chamber}", distributed + [
            "semantic_diffusion_model.train", "--data-dir", str(labels), "--out-dir", str(sdm),
            *option("views", [f"{chamber}_{p}" for p in c.sdm_train_phases]),
            "--image-size", str(c.image_size), "--max-steps", steps, "--lr-anneal-steps", steps,
            "--save-interval", str(max(1, c.sdm_steps // 5)), "--log-interval",
            str(max(1, c.sdm_steps // 50)), "--seed", str(c.seed),
            *option("model-channels", c.sdm_model_channels), *option("channel-mult", c.sdm_channel_mult),
            *option("num-res-blocks", c.sdm_num_res_blocks),
            *option("attention-resolutions", c.sdm_attention_resolutions),
            *option("num-head-channels", c.sdm_num_head_channels),
            *option("spade-hidden", c.sdm_spade_hidden),
            *option("batch-size", c.sdm_batch_size), *option("lr", c.sdm_lr),
            *option("ema-rate", c.sdm_ema_rate)])
        from semantic_diffusion_model.checkpoint import checkpoint_name

        stages.run(f"sample_{chamber}", distributed + [
            "semantic_diffusion_model.sample", "--checkpoint", str(sdm / checkpoint_name(c.sdm_steps)),
            "--maps-dir", str(labels), "--out-dir", str(samples),
            *option("views", [v for v in c.views if v.startswith(chamber)]),
            "--sampler", c.sampler, "--steps", str(c.sample_steps),
            "--batch-size", str(c.sample_batch_size), "--seed", str(c.seed)])

    datasets = {v: [v] for v in c.views} if c.seg_per_view else {}
    datasets |= {"all_views": list(c.views), "real_all_views": list(c.views)}
    for name, views in datasets.items():
        source = "real" if name.startswith("real_") else "synthetic"
        stages.run(f"segmentation_data_{name}", py + [
            "data_preparation.prepare_segmentation_data", "--source", source,
            "--extract-dir", str(extract), "--out-dir", str(seg_data), "--dataset-name", name,
            *option("views", views), *(["--samples-dir", str(samples)] if source == "synthetic" else [])])
    for name, views in datasets.items():
        run_dir = work / "segmentation" / name
        stages.run(f"segmentation_train_{name}", py + [
            "echo_segmentation.train", "--data-dir", str(seg_data / name), "--out-dir", str(run_dir),
            "--preset", c.seg_preset, *option("image-size", c.seg_image_size),
            *option("epochs", c.seg_epochs), *option("max-minutes", c.seg_max_minutes),
            "--seed", str(c.seed), "--resume"])  # --resume: continue last.pt, or start afresh
        stages.run(f"segmentation_test_{name}", py + [
            "echo_segmentation.test", "--checkpoint", str(run_dir / "best.pt"),
            "--data-dir", str(extract), *option("views", views), "--out-dir", str(results / name),
            "--seed", str(c.seed)])

    if c.dry_run:
        print("dry run: nothing was run or written")
        return
    figure = real_vs_synthetic_figure(samples, list(c.views), work / "real_vs_synthetic.png")
    settings = "\n".join(f"- `{key}`: {json.dumps(value)}" for key, value in config_to_dict(c).items())
    write_report({name: results / name for name in datasets}, work / "report.md", figure, settings)
    print(f"report: {work / 'report.md'} ({(time.time() - stages.started) / 60:.1f} min)")


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: run(parse_config(PipelineConfig, argv, __doc__)))


if __name__ == "__main__":
    main()
