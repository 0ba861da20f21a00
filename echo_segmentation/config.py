"""Training configuration of the segmentation network, and its presets.

Fields left at ``None`` on the command line are filled from the chosen preset; an explicit option
always wins. The effective configuration (every field set) is what gets saved and checkpointed.

Presets:
  paper    the published settings (Stojanovski et al. 2023), exactly: MONAI UNet (2,4,...,256), strides 2 x 7, no residual
           units, LeakyReLU 0.1, instance norm, cross-entropy, Adam 1e-3 cosine-annealed to 1e-4 over
           300 epochs, batch 1, the published augmentation, 256 px.
  default  stronger and CPU-friendly: MONAI UNet (16,...,256), strides 2 x 4, 2 residual units,
           Dice + cross-entropy, batch 16, the same augmentation, 128 px input.
  plain    the reference baseline of issue 5 (for comparisons): the default network with plain
           cross-entropy, constant learning rate 1e-3 and no augmentation.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from echo_from_noise.cli import require_at_least, required
from echo_from_noise.errors import UserError

from .run_folder import out_dir_option

PRESETS: dict[str, dict] = {
    "paper": dict(
        network="unet", channels=(2, 4, 8, 16, 32, 64, 128, 256), strides=(2,) * 7,
        num_res_units=0, act="leakyrelu", norm="instance", loss="ce", batch_size=1, epochs=300,
        lr=1e-3, lr_min=1e-4, image_size=256, augment=True,
    ),
    "default": dict(
        network="unet", channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2), num_res_units=2,
        act="prelu", norm="instance", loss="dice_ce", batch_size=16, epochs=100, lr=1e-3,
        lr_min=1e-5, image_size=128, augment=True,
    ),
    "plain": dict(
        network="unet", channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2), num_res_units=2,
        act="prelu", norm="instance", loss="ce", batch_size=16, epochs=100, lr=1e-3,
        lr_min=1e-3, image_size=128, augment=False,
    ),
}

def from_preset(name: str, text: str) -> str:
    """Help text of an option filled by --preset, listing each preset's value."""
    def show(value):
        return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)
    values = "; ".join(f"{preset}: {show(p[name])}" for preset, p in PRESETS.items())
    # "%(default).0s" prints nothing but stops argparse from appending "(default: None)"
    return f"{text} [from --preset: {values}]%(default).0s"


# options that may differ when a run is resumed (they do not change what the run computes per epoch)
RESUMABLE_CHANGES = ("resume", "epochs", "max_minutes", "num_workers", "device")


@dataclass
class TrainConfig:
    data_dir: str = required("dataset folder with images/ and annotations/, each holding training/ "
                             "and validation/ (docs/data_contract.md, step 4), or an extraction view "
                             "folder EXTRACT/<VIEW>")
    out_dir: str = out_dir_option("Dice")
    preset: str = field(default="default", metadata={
        "help": "settings that fill every option not given explicitly: 'paper' = the published "
                "settings, 'default' = the stronger harness, 'plain' = the issue-5 baseline UNet",
        "choices": tuple(PRESETS)})
    network: Optional[str] = field(default=None, metadata={
        "help": from_preset("network", "MONAI network: 'unet' (monai.networks.nets.UNet) or "
                                       "'dynunet' (DynUNet)"),
        "choices": ("unet", "dynunet")})
    channels: Optional[tuple[int, ...]] = field(default=None, metadata={
        "help": from_preset("channels", "feature channels per level, e.g. 16 32 64 128 256")})
    strides: Optional[tuple[int, ...]] = field(default=None, metadata={
        "help": from_preset("strides", "downsampling stride between levels (one fewer than "
                                       "--channels)")})
    num_res_units: Optional[int] = field(default=None, metadata={
        "help": from_preset("num_res_units", "residual units per block (0 = plain convolutions)")})
    act: Optional[str] = field(default=None, metadata={
        "help": from_preset("act", "activation ('leakyrelu' has negative slope 0.1)"),
        "choices": ("leakyrelu", "prelu", "relu")})
    norm: Optional[str] = field(default=None, metadata={
        "help": from_preset("norm", "normalisation layer"), "choices": ("instance", "batch")})
    loss: Optional[str] = field(default=None, metadata={
        "help": from_preset("loss", "'ce' = cross-entropy, 'dice_ce' = Dice + cross-entropy "
                                    "(MONAI DiceCELoss)"),
        "choices": ("ce", "dice_ce")})
    image_size: Optional[int] = field(default=None, metadata={
        "help": from_preset("image_size", "network input size in pixels (images are resized to "
                                          "it; labels nearest)")})
    batch_size: Optional[int] = field(default=None, metadata={
        "help": from_preset("batch_size", "training batch size")})
    epochs: Optional[int] = field(default=None, metadata={
        "help": from_preset("epochs", "epochs; the cosine learning-rate schedule spans them")})
    lr: Optional[float] = field(default=None, metadata={
        "help": from_preset("lr", "initial Adam learning rate")})
    lr_min: Optional[float] = field(default=None, metadata={
        "help": from_preset("lr_min", "learning rate at the end of the cosine schedule")})
    augment: Optional[bool] = field(default=None, metadata={
        "help": from_preset("augment", "random gamma, horizontal flip, rotation, translation "
                                       "and scale (MONAI transforms)")})
    augment_prob: float = field(default=0.5, metadata={
        "help": "probability that each random augmentation is applied to a training image"})
    gamma_range: tuple[float, ...] = field(default=(0.5, 3.0), metadata={
        "help": "range of the random intensity gamma"})
    rotate_deg: float = field(default=10.0, metadata={"help": "maximum rotation in degrees"})
    translate_frac: float = field(default=0.2, metadata={
        "help": "maximum translation as a fraction of the image size"})
    scale_range: tuple[float, ...] = field(default=(0.8, 1.2), metadata={
        "help": "range of the random zoom factor"})
    max_minutes: Optional[float] = field(default=None, metadata={
        "help": "safety stop for the whole run (resumes included): training stops before an epoch "
                "that would exceed it, and the log, last.pt and the test report mark the run "
                "'stopped by --max-minutes after N of M epochs'. The learning-rate schedule "
                "always follows --epochs, never time, so results do not depend on machine load"})
    resume: bool = field(default=False, metadata={
        "help": "continue the run saved in --out-dir/last.pt, or start it if there is none yet "
                "(same settings; --epochs and --max-minutes may be raised)"})
    seed: int = field(default=0, metadata={"help": "random seed (initialisation, order, augmentation)"})
    device: str = field(default="auto", metadata={
        "help": "'auto' (cuda when available, else cpu), 'cpu', 'cuda' or 'cuda:N'"})
    amp: bool = field(default=True, metadata={"help": "bfloat16 autocast on GPU (ignored on CPU)"})
    compile: bool = field(default=False, metadata={"help": "torch.compile the network"})
    num_workers: int = field(default=0, metadata={
        "help": "data-loading worker processes (0 = in the main process; 4-8 on a GPU machine)"})


def resolve_preset(config: TrainConfig) -> TrainConfig:
    """Fill every ``None`` field from the preset and check the values fit together."""
    preset = PRESETS[config.preset]
    values = {k: v for k, v in preset.items() if getattr(config, k) is None}
    config = dataclasses.replace(config, **values)
    check_config(config)
    return config


def check_config(config: TrainConfig) -> None:
    if len(config.strides) != len(config.channels) - 1:
        raise UserError(f"--strides needs {len(config.channels) - 1} values for "
                        f"{len(config.channels)} --channels, got {len(config.strides)}")
    factor = 1
    for s in config.strides:
        factor *= s
    if config.image_size % factor:
        raise UserError(f"--image-size {config.image_size} is not divisible by the product of "
                        f"--strides ({factor})")
    if config.norm == "instance" and config.image_size // factor < 2:
        raise UserError(f"--image-size {config.image_size} leaves 1 x 1 features at the deepest "
                        f"level (strides multiply to {factor}), where instance norm is undefined: "
                        f"use at least {2 * factor} or fewer --strides")
    require_at_least(config, batch_size=1, epochs=1, image_size=1)
    if len(config.gamma_range) != 2 or len(config.scale_range) != 2:
        raise UserError("--gamma-range and --scale-range take two values (low high)")
    if config.max_minutes is not None and config.max_minutes <= 0:
        raise UserError("--max-minutes must be positive")
