"""Configuration of the semantic diffusion model: network, diffusion process and training.

The defaults are the published settings (Stojanovski et al. 2023 on guided-diffusion's UNet;
docs/semantic_diffusion_model.md). Each dataclass field is one documented command-line option
(echo_from_noise.cli derives the parser).
``TrainConfig`` is the union of the three, so the training program has one flat set of options and
a checkpoint can rebuild ``ModelConfig`` and ``DiffusionConfig`` from the saved dictionary alone.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from echo_from_noise.cli import required
from echo_from_noise.contract import SECTOR_CLASSES, SPLITS, VIEWS
from echo_from_noise.device import PRECISIONS
from echo_from_noise.errors import UserError
from echo_from_noise.launch import DIST_HOST_HELP

from .formulations import FORMULATIONS
from .formulations import describe as formulations_help

# published channel multipliers by image size (guided-diffusion / SDM)
CHANNEL_MULT_BY_SIZE = {256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4)}
# named network settings (--model-preset): defaults of ModelConfig's options, still overridable
MODEL_PRESETS = {
    # the follow-up paper's pixel backbone: ADM UNet with SPADE in the decoder
    "edm-adm": dict(model_channels=192, channel_mult=(1, 2, 3, 4), num_res_blocks=3,
                    attention_resolutions=(32, 16, 8), dropout=0.1),
}


@dataclass
class ModelConfig:
    """The SPADE UNet (guided-diffusion UNet with SPADE in the middle and decoder blocks)."""

    image_size: int = field(default=256, metadata={"help": "side of the square images and maps (pixels); the network works at this side, or at the latent side of --autoencoder"})
    in_channels: int = field(default=1, metadata={"help": "image channels diffused (1 = grey; the published model diffused 3 identical ones)"})
    num_classes: int = field(default=SECTOR_CLASSES, metadata={"help": "classes of the label map (one-hot channels of the condition)"})
    model_channels: int = field(default=256, metadata={"help": "base channel count of the UNet"})
    channel_mult: tuple[int, ...] = field(default=(), metadata={"help": "channel multiplier per resolution level; empty = the published list for the image size (256: 1 1 2 2 4 4, 128: 1 1 2 3 4, 64: 1 2 3 4)"})
    num_res_blocks: int = field(default=2, metadata={"help": "residual blocks per resolution level"})
    attention_resolutions: tuple[int, ...] = field(default=(32, 16, 8), metadata={"help": "feature-map sides (pixels) at which self-attention is used"})
    num_head_channels: int = field(default=64, metadata={"help": "channels per attention head"})
    norm_groups: int = field(default=32, metadata={"help": "groups of every GroupNorm (channel counts must be divisible by it)"})
    spade_hidden: int = field(default=128, metadata={"help": "hidden channels of the SPADE label-map convolution"})
    dropout: float = field(default=0.0, metadata={"help": "dropout probability in the residual blocks"})
    learn_sigma: bool = field(default=True, metadata={"help": "also predict the interpolated variance (output 2C channels); ddpm only"})
    use_scale_shift_norm: bool = field(default=True, metadata={"help": "time conditioning as scale and shift after the second norm (else added before it)"})
    resblock_updown: bool = field(default=True, metadata={"help": "residual blocks do the down and up sampling (else plain pooling / nearest upsampling)"})
    grad_checkpoint: bool = field(default=False, metadata={"help": "gradient checkpointing of every block (less memory, ~30%% slower)"})

    def __post_init__(self) -> None:
        self.channel_mult = tuple(self.channel_mult)
        self.attention_resolutions = tuple(self.attention_resolutions)

    @property
    def out_channels(self) -> int:
        return self.in_channels * (2 if self.learn_sigma else 1)

    def resolved_channel_mult(self) -> tuple[int, ...]:
        """The channel multipliers actually used (the published list when none was given)."""
        if self.channel_mult:
            return tuple(self.channel_mult)
        if self.image_size not in CHANNEL_MULT_BY_SIZE:
            raise UserError(f"no published channel multipliers for image size {self.image_size}; "
                            f"give --channel-mult (published for {sorted(CHANNEL_MULT_BY_SIZE)})")
        return CHANNEL_MULT_BY_SIZE[self.image_size]


def _check_diffusion(self) -> None:
    """UserError naming the first parameter outside its range (before anything trains)."""
    for formulation in FORMULATIONS.values():
        for holds, message in formulation.parameter_rules(self):
            if not holds:
                raise UserError(message)


def _diffusion_fields() -> list[tuple]:
    """--formulation, then every formulation's parameters (formulations.*.Parameters), each help
    text led by the formulation's name."""
    specs = [("formulation", str, field(default="ddpm", metadata={
        "help": f"{formulations_help()} (the EDM family's and rflow's networks predict no variance: "
                "--learn-sigma is ignored)", "choices": FORMULATIONS}))]
    for formulation in FORMULATIONS.values():
        hints = typing.get_type_hints(formulation.Parameters)
        specs += [(f.name, hints[f.name], field(default=f.default, metadata={
                      **f.metadata, "help": f"{formulation.name}: {f.metadata['help']}"}))
                  for f in dataclasses.fields(formulation.Parameters)]
    return specs


# The diffusion process and its training loss: the discrete DDPM process of the published SDM,
# one of the continuous EDM family (Karras et al. 2022) around the same network, or rectified flow.
# Its options are those of every formulation (``formulations``), so a checkpoint records them all.
DiffusionConfig = dataclasses.make_dataclass("DiffusionConfig", _diffusion_fields(), namespace={
    "check": _check_diffusion,
    "__doc__": "The diffusion process and its training loss: --formulation and the parameters of "
               "every formulation (formulations.FORMULATIONS)."})


@dataclass
class StepConfig:
    """How one training step is computed (shared by training and its benchmark)."""

    batch_size: int = field(default=12, metadata={"help": "images per step on each process (GPU)"})
    microbatch: int = field(default=0, metadata={"help": "split each batch into micro-batches of this size for gradient accumulation (0 = no split)"})
    precision: str = field(default="auto", metadata={"help": "compute precision: auto = bf16 autocast on GPUs that support it, else fp32; fp16 uses loss scaling", "choices": PRECISIONS})
    compile: bool = field(default=False, metadata={"help": "torch.compile the network"})
    channels_last: bool = field(default=False, metadata={"help": "channels-last memory format (faster convolutions on GPU)"})


@dataclass
class TrainConfig(StepConfig, DiffusionConfig, ModelConfig):
    """Every option of the training program (model and diffusion options included)."""

    model_preset: str = field(default="", metadata={"help": "named network settings that replace the defaults of the network options (edm-adm: " + ", ".join(f"{k} {v}" for k, v in MODEL_PRESETS["edm-adm"].items()) + "); empty = the published SDM network", "choices": ("", *MODEL_PRESETS)})
    data_dir: str = required("step-2 folder (LABELS) with <VIEW>/sector_annotations and <VIEW>/images; local path or gs:// / az:// URL")
    out_dir: str = required("folder for checkpoints, progress.csv, config.json and TensorBoard events; local path or gs:// / az:// URL")
    autoencoder: str = field(default="", metadata={"help": "a Gamma-VAE checkpoint (semantic_diffusion_model.train_autoencoder): train on the latent means of the training images instead of their pixels (latent diffusion, the follow-up's EDM-L models); the network then works at its latent side, and --image-size, left out, becomes its image size (given, it must be that size)"})
    views: tuple[str, ...] = field(default=("2CH_ED",), metadata={"help": "views whose real pairs are trained on together (the paper: ED frames of one chamber)", "choices": VIEWS})
    split: str = field(default="training", metadata={"help": "split of the step-2 folder to train on", "choices": SPLITS})
    lr: float = field(default=1e-4, metadata={"help": "AdamW learning rate (annealed linearly to 0 over --lr-anneal-steps)"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    lr_anneal_steps: int = field(default=50000, metadata={"help": "steps over which the learning rate falls linearly to 0"})
    max_steps: int = field(default=0, metadata={"help": "stop after this many steps (0 = --lr-anneal-steps); a later run with a larger value continues"})
    lr_schedule: str = field(default="linear", metadata={"help": "linear = the learning rate falls linearly to 0 over --lr-anneal-steps (the published SDM); constant = --lr throughout (the follow-up's EDM code), so every checkpoint of a run is a model of that training length", "choices": ("linear", "constant")})
    ema_rate: float = field(default=0.9999, metadata={"help": "exponential moving average rate of the weights used for sampling (the rate reached after the warm-up)"})
    ema_warmup: bool = field(default=True, metadata={"help": "EMA warm-up: step t averages at min(--ema-rate, (1 + t) / (10 + t)), so the sampling weights hold a negligible share of the random initial ones at any length (without it 0.9999^20000 = 13.5 %% remains after 20 000 steps); runs begun without warm-up continue without it"})
    random_flip: bool = field(default=True, metadata={"help": "random horizontal flip of image and map"})
    label_dropout: float = field(default=0.0, metadata={"help": "probability of replacing a map by the null (all-zero) map, so the model can be sampled with classifier-free guidance"})
    save_interval: int = field(default=5000, metadata={"help": "write a checkpoint every this many steps (and always at the end)"})
    keep_checkpoints: int = field(default=3, metadata={"help": "keep only the newest k checkpoints (0 = keep all)"})
    log_interval: int = field(default=100, metadata={"help": "steps between rows of progress.csv"})
    resume: str = field(default="auto", metadata={"help": "'auto' = continue from the newest checkpoint in --out-dir if there is one; a checkpoint path; or 'none' = start afresh (refused if --out-dir holds checkpoints)"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, data order, flips, timesteps and noise (each step's randomness derives from seed, step and rank)"})
    max_nonfinite_steps: int = field(default=50, metadata={"help": "stop with an error after this many consecutive steps skipped for a non-finite loss or gradient"})
    num_workers: int = field(default=4, metadata={"help": "threads that decode the PNG files at start (the data set is kept in memory)"})
    dist_host: str = field(default="", metadata={"help": DIST_HOST_HELP})
    tensorboard: bool = field(default=True, metadata={"help": "also write TensorBoard events (local --out-dir only)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.formulation in FORMULATIONS and not FORMULATIONS[self.formulation].learns_variance:
            self.learn_sigma = False  # e.g. the EDM family's denoiser has no variance output

    @property
    def total_steps(self) -> int:
        return self.max_steps or self.lr_anneal_steps


def sub_config(cls: type, config: Any) -> Any:
    """The ``cls`` part (ModelConfig or DiffusionConfig) of a larger configuration."""
    return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})
