"""The pipeline's configuration: its own options, and the stage programs' options it offers and
passes on (``StageOptions``), in one dataclass ``PipelineConfig``; ``resolve`` fills it from the
preset."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, make_dataclass
from typing import Any, NamedTuple, Optional

from echo_from_noise.cli import config_to_dict, prefixed_arguments, prefixed_options
from echo_from_noise.contract import VIEWS
from echo_from_noise.errors import UserError
from echo_segmentation.config import TrainConfig as SegmentationTrainConfig
from echo_segmentation.evaluate_synthetic import EvaluateConfig
from semantic_diffusion_model.config import DiffusionConfig
from semantic_diffusion_model.config import TrainConfig as DiffusionTrainConfig
from semantic_diffusion_model.formulations import formulation_of, samplers_for
from semantic_diffusion_model.sample import Config as SampleConfig
from semantic_diffusion_model.samplers.options import SAMPLER_OPTIONS, unused_options
from semantic_diffusion_model.samplers.registry import fallback_sampler

from .launch import LAUNCHERS
from .presets import PRESETS

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
