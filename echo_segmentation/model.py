"""The segmentation network (MONAI UNet or DynUNet) and its checkpoints.

A checkpoint is a plain dict loaded with ``torch.load(weights_only=True)``:
    kind            CHECKPOINT_KIND (anything else is refused)
    config          the effective TrainConfig as a dict
    normalisation   {"mean": m, "std": s} of the training images (intensities in 0..1)
    model           network weights (without torch.compile's "_orig_mod." prefix)
    epoch, elapsed_s, best_dice, best_epoch, optimizer, history   (training state, for --resume)
    stopped_by      None, or the safety limit that ended training early ("--max-minutes 20")
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from monai.networks.nets import DynUNet, UNet

from echo_from_noise.checkpoint_files import load_torch, save_torch
from echo_from_noise.cli import config_from_dict
from echo_from_noise.contract import CAMUS_CLASSES
from echo_from_noise.errors import UserError

from .config import TrainConfig
from .run_folder import LAST_FILE

CHECKPOINT_KIND = "echo_segmentation.unet"
COMPILED_PREFIX = "_orig_mod."
ACTIVATIONS = {"leakyrelu": ("leakyrelu", {"negative_slope": 0.1}), "prelu": "prelu", "relu": "relu"}


def build_network(config: TrainConfig) -> torch.nn.Module:
    """A 2-D network from 1 grey channel to the 4 CAMUS classes (logits)."""
    act = ACTIVATIONS[config.act]
    if config.network == "dynunet":
        strides = (1, *config.strides)
        return DynUNet(spatial_dims=2, in_channels=1, out_channels=CAMUS_CLASSES,
                       kernel_size=[3] * len(strides), strides=strides,
                       upsample_kernel_size=config.strides, filters=config.channels,
                       norm_name=config.norm, act_name=act, res_block=config.num_res_units > 0)
    return UNet(spatial_dims=2, in_channels=1, out_channels=CAMUS_CLASSES,
                channels=config.channels, strides=config.strides,
                num_res_units=config.num_res_units, act=act, norm=config.norm)


def stop_note(epochs_trained: int, epochs: int, stopped_by: str | None) -> str | None:
    """'stopped by --max-minutes 20 after 12 of 40 epochs', or None for a complete run."""
    if epochs_trained >= epochs:
        return None
    return (f"stopped by {stopped_by or 'a kill (unfinished run)'} after {epochs_trained} of "
            f"{epochs} epochs")


def plain_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights with torch.compile's "_orig_mod." prefix removed (a no-op for plain models)."""
    return {k.replace(COMPILED_PREFIX, "", 1) if k.startswith(COMPILED_PREFIX) else k: v
            for k, v in state.items()}


def save_checkpoint(path: str | Path, **content: Any) -> None:
    """Write a checkpoint atomically (``content`` as described in the module docstring)."""
    content["kind"] = CHECKPOINT_KIND
    content["model"] = plain_state_dict(content["model"])
    save_torch(path, content)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint of this program (safe: tensors and plain data only)."""
    checkpoint = load_torch(Path(path), CHECKPOINT_KIND, "an echo_segmentation checkpoint")
    checkpoint["model"] = plain_state_dict(checkpoint["model"])
    return checkpoint


def newest_state(path: str | Path, checkpoint: dict[str, Any], read=None) -> dict[str, Any]:
    """The run's newest training state: last.pt beside the checkpoint at ``path`` when that is
    another readable file, else ``checkpoint`` (``read`` loads a checkpoint of the program that
    wrote it; default: this one's)."""
    last = Path(path).with_name(LAST_FILE)
    if last.is_file() and last.resolve() != Path(path).resolve():
        try:
            return (read or read_checkpoint)(last)
        except UserError:
            pass
    return checkpoint


def load_model(path: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[torch.nn.Module, TrainConfig, dict[str, Any]]:
    """The trained network (eval mode), its configuration and the whole checkpoint."""
    checkpoint = read_checkpoint(path)
    config = config_from_dict(TrainConfig, checkpoint["config"])
    network = build_network(config)
    try:
        network.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        raise UserError(f"{path}: weights do not fit the saved configuration "
                        f"({str(error).splitlines()[0]})") from None
    return network.to(device).eval(), config, checkpoint
