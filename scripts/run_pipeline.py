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
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, NamedTuple, Optional

if __package__ in (None, ""):  # run as a file: python scripts/run_pipeline.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_preparation.camus_reader import open_camus
from echo_from_noise.cli import (STAGE_VARIABLE, check_program_options, config_to_dict,
                                 option_arguments, parse_config, prefixed_arguments,
                                 prefixed_options, run_program, save_config)
from echo_from_noise.contract import VIEWS, chosen_patients
from echo_from_noise.errors import UserError
from echo_from_noise.files import atomic_path, check_writable
from echo_segmentation.config import TrainConfig as SegmentationTrainConfig
from echo_segmentation.evaluate_synthetic import EvaluateConfig
from semantic_diffusion_model.training.checkpoint import checkpoint_name
from semantic_diffusion_model.config import TrainConfig as DiffusionTrainConfig
from semantic_diffusion_model.sample import Config as SampleConfig
from semantic_diffusion_model.config import DiffusionConfig
from semantic_diffusion_model.formulations import formulation_of, samplers_for
from semantic_diffusion_model.samplers.options import SAMPLER_OPTIONS, unused_options
from semantic_diffusion_model.samplers.registry import fallback_sampler
from scripts.pipeline_launch import LAUNCHERS, PYTHON, check_launch, launcher_command
from scripts.pipeline_presets import PRESETS
from scripts.pipeline_rows import SegmentationRow, segmentation_rows
from scripts.pipeline_slurm import REPORT_STAGE, SCHEDULER_OPTIONS, StageJob, submission_script, submit
from scripts.pipeline_report import generator_text, real_vs_synthetic_figure, write_report

REPO = Path(__file__).resolve().parent.parent
PHASES = tuple(dict.fromkeys(view.split("_")[1] for view in VIEWS))  # ED, ES


LATENT_CHANNELS = {"L128": (64, 128), "L64": (64, 128, 192)}  # Gamma-VAE channels of --latent


class StageOptions(NamedTuple):
    """Options of a stage program that the pipeline offers as ``prefix + name`` and passes on."""

    program: str
    config: type  # the program's configuration dataclass: type, help and choices of each option
    prefix: str
    names: tuple[str, ...]

    def fields(self) -> list[tuple]:
        return prefixed_options(self.config, self.prefix, self.names, self.program)

    def arguments(self, config: Any) -> list[str]:
        """``--name value`` of each of these options that is set (None: the program's default)."""
        return prefixed_arguments(config, self.prefix, self.names)


# The stage programs' options that the pipeline offers too (the presets set them): e.g.
# --sdm-model-channels is passed to semantic_diffusion_model.train as --model-channels.
DIFFUSION_TRAINING = StageOptions("semantic_diffusion_model.train", DiffusionTrainConfig, "sdm_", (
    "model_channels", "channel_mult", "num_res_blocks", "attention_resolutions",
    "num_head_channels", "spade_hidden", "batch_size", "lr", "ema_rate"))
FORMULATION = StageOptions(DIFFUSION_TRAINING.program, DiffusionTrainConfig, "", ("formulation",))
SAMPLER = StageOptions("semantic_diffusion_model.sample", SampleConfig, "", (
    "samples_per_map", "sampler", *SAMPLER_OPTIONS, "guidance_scale"))  # the samplers' own options
SAMPLING = StageOptions(SAMPLER.program, SampleConfig, "sample_", ("steps", "batch_size"))
SEGMENTATION_TRAINING = StageOptions("echo_segmentation.train", SegmentationTrainConfig, "seg_", (
    "preset", "image_size", "epochs", "max_minutes"))
EVALUATION = StageOptions("echo_segmentation.evaluate_synthetic", EvaluateConfig, "", (
    "view_classification", "view_image_size", "view_epochs"))


@dataclass
class PipelineOwnConfig:
    """The options that belong to the pipeline itself."""

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
                "for ED and ES maps)", "choices": PHASES})
    seg_per_view: bool = field(default=True, metadata={
        "help": "also train and test one segmentation network per view (the per-view rows)"})
    few_real_generator: bool = field(default=False, metadata={
        "help": "the few-real + synthetic rows (--real-fractions) use diffusion models trained on "
                "those patients alone (their own extraction, maps, models and samples in "
                "WORK/few_real/); default: the images the main models made from their maps (a "
                "generator that saw every training patient)"})
    launcher: str = field(default="mpiexec", metadata={
        "help": "launcher of multi-GPU stages (with --gpus > 1; srun: SLURM)", "choices": tuple(LAUNCHERS)})
    nnodes: int = field(default=1, metadata={
        "help": "torchrun: nodes of the multi-GPU stages; 1 = --standalone, more = the rendezvous "
                "form (--gpus per node; the command must start on every node, docs/cluster.md)"})
    rdzv_backend: str = field(default="c10d", metadata={"help": "torchrun rendezvous backend (--nnodes > 1)"})
    rdzv_endpoint: str = field(default="", metadata={
        "help": "torchrun rendezvous HOST:PORT (--nnodes > 1), a node every node reaches"})
    slurm: str = field(default="", metadata={
        "help": "hand the stages to SLURM, one job each, chained with --dependency=afterok: print "
                "= write the submitting bash script on stdout, submit = run it (docs/cluster.md)",
        "choices": ("", "print", "submit")})
    slurm_options: str = field(default="", metadata={
        "help": "more sbatch options for every job of --slurm, e.g. \"--partition gpu --time 1-0\""})
    stage: str = field(default="", metadata={
        "help": "run only this stage (or 'report'), e.g. in a job of --slurm; finished stages "
                "are still skipped"})
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
    sdm_steps: Optional[int] = field(default=None, metadata={
        "help": "SDM training steps (the learning rate anneals to 0 over them)"})
    latent: Optional[str] = field(default=None, metadata={
        "help": "diffuse the latent of a Gamma-VAE trained as a stage before the diffusion models: "
                "L128 = latent side / 2 (channels 64 128), L64 = side / 4 (64 128 192), the "
                "follow-up's EDM-L128 and EDM-L64 (named for 256 px images); default: pixels",
        "choices": ("L128", "L64")})
    vae_epochs: Optional[int] = field(default=None, metadata={
        "help": "epochs of the Gamma-VAE stage (with --latent)"})
    real_plus_synthetic: Optional[bool] = field(default=None, metadata={
        "help": "also train and test on all real + all synthetic frames (the report gives each "
                "row's difference to real only)"})
    real_fractions: Optional[tuple[float, ...]] = field(default=None, metadata={
        "help": "few-real rows: for each fraction, the real frames of that share of the training "
                "(and validation) patients, chosen by patient with --seed, alone and with the "
                "synthetic images of their maps (none: no such rows)"})


# Every option of the pipeline: its own, then the stage programs' it passes on (also preset values).
PipelineConfig = make_dataclass(
    "PipelineConfig",
    [*FORMULATION.fields(), *DIFFUSION_TRAINING.fields(), *SAMPLER.fields(), *SAMPLING.fields(),
     *SEGMENTATION_TRAINING.fields(), *EVALUATION.fields()],
    bases=(PipelineOwnConfig,), namespace={"__module__": __name__})


def resolve(config: PipelineConfig) -> PipelineConfig:
    """Fill every unset preset value from the preset. A preset's sampler that does not fit the
    chosen --formulation (the ddpm sampler for an EDM model) becomes the formulation's first
    ODE solver (heun, or euler for rflow)."""
    values = config_to_dict(config)
    sampler_given = values["sampler"] is not None
    for key, value in PRESETS[config.preset].items():
        if values[key] is None:
            values[key] = value
    formulation = values["formulation"] or DiffusionTrainConfig.formulation
    fitting = samplers_for(formulation)
    if values["sampler"] not in fitting:
        if sampler_given:
            raise UserError(f"--sampler {values['sampler']} does not fit --formulation "
                            f"{formulation}; samplers that do: {', '.join(fitting)}")
        replacement = fallback_sampler(fitting)
        print(f"note: --formulation {formulation}: sampling with {replacement} (the preset's "
              f"{values['sampler']} does not fit it)", file=sys.stderr)
        values["sampler"] = replacement
    given = [name for name in SAMPLER_OPTIONS if values[name] is not None]
    process = formulation_of(DiffusionConfig(formulation=formulation)).process()
    unused = unused_options(values["sampler"], process, given)
    if unused:  # refused here, before any stage runs, as the sampling stage would
        raise UserError(f"{' '.join('--' + o.replace('_', '-') for o in unused)}: not read by "
                        f"sampler {values['sampler']} on {formulation} models")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return PipelineConfig(**values)


class StageFailed(UserError):
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


class Folders:
    """The pipeline's folders (listed at the top of this file)."""

    def __init__(self, work: Path, camus_dir: str | None):
        self.work = work
        self.camus = Path(camus_dir).resolve() if camus_dir else work / "0_camus"
        self.extract, self.labels, self.samples = work / "1_extract", work / "2_labels", work / "3_samples"
        self.seg_data, self.results = work / "4_segmentation_data", work / "results"
        self.autoencoder, self.evaluation = work / "autoencoder", work / "evaluation"
        self.sdm, self.suffix = work / "sdm", ""  # diffusion models; stage-name suffix

    def few_real(self, fraction: float) -> "Folders":
        """The folders of --few-real-generator for ``fraction``: WORK/few_real/patientsNN/..."""
        few = Folders(self.work, str(self.camus))
        few.tag = f"patients{round(100 * fraction)}"
        root = self.work / "few_real" / few.tag
        few.extract, few.labels, few.samples, few.sdm = (root / "1_extract", root / "2_labels",
                                                         root / "3_samples", root / "sdm")
        few.autoencoder, few.suffix = self.autoencoder, f"_{few.tag}"
        return few


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


def every_stage(stages: StageRunner, c: PipelineConfig, folders: Folders) -> list[SegmentationRow]:
    """Every stage in order (run, skipped or collected by ``stages``) -> the segmentation data sets."""
    data_stages(stages, c, folders)
    if c.latent:
        autoencoder_stage(stages, c, folders)
    for chamber in chambers(c):
        diffusion_stages(stages, c, folders, chamber)
    if c.few_real_generator:
        for fraction in c.real_fractions or ():
            few_real_stages(stages, c, folders, fraction)
    datasets = segmentation_datasets(c)
    segmentation_stages(stages, c, folders, datasets)
    evaluation_stage(stages, c, folders)
    return datasets


def pipeline_command(c: PipelineConfig, folders: Folders) -> list[str]:
    """This pipeline as one command with every option explicit (folders absolute), less the
    options of --slurm: what each SLURM job of a stage runs (with --stage)."""
    values = config_to_dict(c) | {"work_dir": str(folders.work),
                                  "camus_dir": str(folders.camus) if c.camus_dir else None}
    return [sys.executable, str(Path(__file__).resolve()),
            *(arg for name, value in values.items() if name not in SCHEDULER_OPTIONS
              for arg in option_arguments(name, value))]


def data_stages(stages: StageRunner, c: PipelineConfig, folders: Folders) -> None:
    """The embedded CAMUS-format data (without --camus-dir), extraction (1) and label maps (2)."""
    if not c.camus_dir:
        stages.run("embedded_data", PYTHON + [
            "embedded_camus.generate", "--out-dir", str(folders.camus),
            "--num-patients", str(c.num_patients), "--size", str(c.data_size), "--seed", str(c.seed)], kind="cpu")
    stages.run("extract", PYTHON + [
        "data_preparation.extract_camus", "--camus-dir", str(folders.camus),
        "--out-dir", str(folders.extract), "--size", str(c.image_size),
        *option_arguments("views", c.views), *patients_option(c, folders.camus)], kind="cpu")
    stages.run("labels", PYTHON + [
        "data_preparation.prepare_labels", "--extract-dir", str(folders.extract),
        "--out-dir", str(folders.labels), "--num-augment", str(c.num_augment),
        "--seed", str(c.seed), *option_arguments("views", c.views)], kind="cpu")


def patients_option(c: PipelineConfig, camus: Path) -> list[str]:
    """``--patients`` of the extraction with --train-patients (else nothing: every patient)."""
    if not c.train_patients:
        return []
    if not c.camus_dir and not camus.exists():  # embedded data not generated yet (a dry run)
        return ["--patients", f"<all test, the first {c.train_patients} training and "
                f"{max(1, c.train_patients // 4)} validation patients of {camus}>"]
    return option_arguments("patients", select_patients(camus, c.train_patients))


def select_patients(camus_dir: Path, limit: int) -> list[str]:
    """Patient numbers: all test patients, the first ``limit`` training and limit/4 validation ones."""
    split_of = open_camus(camus_dir).split_of
    keep = {"training": limit, "validation": max(1, limit // 4), "testing": len(split_of)}
    chosen = []
    for split, count in keep.items():
        chosen += sorted(p for p, s in split_of.items() if s == split)[:count]
    return [str(int(p.removeprefix("patient"))) for p in sorted(chosen)]


def autoencoder_stage(stages: StageRunner, c: PipelineConfig, folders: Folders) -> None:
    """The Gamma-VAE of --latent, trained on the real training frames of every view."""
    stages.run("autoencoder", launcher_command(c) + [
        "semantic_diffusion_model.train_autoencoder", "--data-dir", str(folders.labels),
        "--out-dir", str(folders.autoencoder), *option_arguments("views", c.views),
        "--image-size", str(c.image_size), *option_arguments("channels", LATENT_CHANNELS[c.latent]),
        *(["--epochs", str(c.vae_epochs)] if c.vae_epochs else []), "--seed", str(c.seed)],
        kind="gpus")


def chambers(c: PipelineConfig) -> list[str]:
    return sorted({view.split("_")[0] for view in c.views})


def few_real_stages(stages: StageRunner, c: PipelineConfig, folders: Folders, fraction: float) -> None:
    """--few-real-generator: the few-real rows' own generator, trained on the chosen patients alone
    (their extraction and maps, then a diffusion model per chamber and its samples)."""
    few = folders.few_real(fraction)
    stages.run(f"extract_{few.tag}", PYTHON + [
        "data_preparation.extract_camus", "--camus-dir", str(folders.camus),
        "--out-dir", str(few.extract), "--size", str(c.image_size),
        *option_arguments("views", c.views), *few_real_patients_option(c, folders.camus, fraction)],
        kind="cpu")
    stages.run(f"labels_{few.tag}", PYTHON + [
        "data_preparation.prepare_labels", "--extract-dir", str(few.extract),
        "--out-dir", str(few.labels), "--num-augment", str(c.num_augment),
        "--seed", str(c.seed), *option_arguments("views", c.views)], kind="cpu")
    for chamber in chambers(c):
        diffusion_stages(stages, c, few, chamber)


def few_real_patients_option(c: PipelineConfig, camus: Path, fraction: float) -> list[str]:
    """``--patients`` of a few-real extraction: the patients prepare_segmentation_data keeps for
    ``fraction`` (chosen among the extracted training and validation patients), and every test one."""
    if not c.camus_dir and not camus.exists():  # embedded data not generated yet (a dry run)
        return ["--patients", f"<{fraction:g} of the training and validation patients of {camus}>"]
    split_of = open_camus(camus).split_of
    extracted = ([f"patient{int(n):04d}" for n in select_patients(camus, c.train_patients)]
                 if c.train_patients else sorted(split_of))
    chosen = [p for p in extracted if split_of[p] == "testing"]
    for split in ("training", "validation"):
        chosen += chosen_patients([p for p in extracted if split_of[p] == split], fraction, c.seed)
    return option_arguments("patients", [str(int(p.removeprefix("patient"))) for p in sorted(chosen)])


def diffusion_stages(stages: StageRunner, c: PipelineConfig, folders: "Folders", chamber: str) -> None:
    """One chamber's diffusion model: training, then sampling its views' augmented maps (3)."""
    sdm, steps = folders.sdm / chamber, str(c.sdm_steps)
    stages.run(f"sdm_train_{chamber}{folders.suffix}", launcher_command(c) + [
        DIFFUSION_TRAINING.program, "--data-dir", str(folders.labels), "--out-dir", str(sdm),
        *option_arguments("views", [f"{chamber}_{phase}" for phase in c.sdm_train_phases]),
        "--image-size", str(c.image_size), "--max-steps", steps, "--lr-anneal-steps", steps,
        "--save-interval", str(max(1, c.sdm_steps // 5)),
        "--log-interval", str(max(1, c.sdm_steps // 50)), "--seed", str(c.seed),
        *FORMULATION.arguments(c), *DIFFUSION_TRAINING.arguments(c),
        *(["--autoencoder", str(folders.autoencoder / "autoencoder.pt")] if c.latent else [])],
        kind="gpus")
    stages.run(f"sample_{chamber}{folders.suffix}", launcher_command(c) + [
        SAMPLER.program, "--checkpoint", str(sdm / checkpoint_name(c.sdm_steps)),
        "--maps-dir", str(folders.labels), "--out-dir", str(folders.samples),
        *option_arguments("views", [view for view in c.views if view.startswith(chamber)]),
        *SAMPLER.arguments(c), *SAMPLING.arguments(c), "--seed", str(c.seed)], kind="gpus")


def segmentation_datasets(c: PipelineConfig) -> list[SegmentationRow]:
    """The segmentation data sets (pipeline_rows): per view (optional), all synthetic, all real,
    real + synthetic and the few-real rows (optional)."""
    return segmentation_rows(c.views, c.seg_per_view, bool(c.real_plus_synthetic),
                             tuple(c.real_fractions or ()))


def samples_of(row: SegmentationRow, c: PipelineConfig, folders: Folders) -> Path:
    """The synthetic images of a row: the few-real generator's (--few-real-generator) or the main ones."""
    if row.fraction < 1 and c.few_real_generator:
        return folders.few_real(row.fraction).samples
    return folders.samples


def segmentation_stages(stages: StageRunner, c: PipelineConfig, folders: Folders,
                        datasets: list[SegmentationRow]) -> None:
    """Every segmentation data set (4), then a network trained on each and tested on real frames (5)."""
    for row in datasets:
        stages.run(f"segmentation_data_{row.name}", PYTHON + [
            "data_preparation.prepare_segmentation_data", "--source", row.source,
            "--extract-dir", str(folders.extract), "--out-dir", str(folders.seg_data),
            "--dataset-name", row.name, *option_arguments("views", row.views),
            *(["--patient-fraction", str(row.fraction), "--seed", str(c.seed)]
              if row.fraction != 1 else []),
            *(["--samples-dir", str(samples_of(row, c, folders))] if "synthetic" in row.source else [])],
            kind="cpu")
    for row in datasets:
        name, views = row.name, row.views
        run_dir = folders.work / "segmentation" / name
        stages.run(f"segmentation_train_{name}", PYTHON + [
            SEGMENTATION_TRAINING.program, "--data-dir", str(folders.seg_data / name),
            "--out-dir", str(run_dir), *SEGMENTATION_TRAINING.arguments(c),
            "--seed", str(c.seed), "--resume"])  # --resume: continue last.pt, or start afresh
        stages.run(f"segmentation_test_{name}", PYTHON + [
            "echo_segmentation.test", "--checkpoint", str(run_dir / "best.pt"),
            "--data-dir", str(folders.extract), *option_arguments("views", views),
            "--out-dir", str(folders.results / name), "--seed", str(c.seed)])


def evaluation_stage(stages: StageRunner, c: PipelineConfig, folders: Folders) -> None:
    """The synthetic set judged against the real frames, with the real-trained segmenter."""
    stages.run("evaluate_synthetic", PYTHON + [
        EVALUATION.program, "--samples-dir", str(folders.samples),
        "--extract-dir", str(folders.extract), "--out-dir", str(folders.evaluation),
        *option_arguments("views", c.views),
        "--segmenter", str(folders.work / "segmentation" / "real_all_views" / "best.pt"),
        *EVALUATION.arguments(c), "--seed", str(c.seed)])


def report(c: PipelineConfig, folders: Folders, datasets: list[SegmentationRow]) -> None:
    """WORK/report.md (Table 1 beside the published rows, the settings) and its figure."""
    figure = real_vs_synthetic_figure(folders.samples, list(c.views),
                                      folders.work / "real_vs_synthetic.png")
    settings = "\n".join(f"- `{key}`: {json.dumps(value)}" for key, value in config_to_dict(c).items())
    write_report({row: folders.results / row.name for row in datasets}, folders.work / "report.md",
                 figure, settings, generator_text(folders.samples, list(c.views)),
                 folders.evaluation)


def main(argv: list[str] | None = None) -> None:
    def body():
        try:
            run(parse_config(PipelineConfig, argv, __doc__))
        except StageFailed:
            raise SystemExit(2) from None  # the stage said why, in one line
    run_program(body)


if __name__ == "__main__":
    main()
