"""Gamma-VAE checkpoints: ``autoencoder_<epoch>.pt`` per save and ``autoencoder.pt``, the newest.

A checkpoint is a plain dictionary (``torch.load(weights_only=True)``): format, version, epoch,
step, config (the whole training configuration), autoencoder_config (rebuilds the network),
model, optimizer, grad_scaler, rng, weights_digest. Written atomically.
"""
from __future__ import annotations

import hashlib
import re

import torch

from echo_from_noise import storage
from echo_from_noise.checkpoint_files import load_torch, load_weights, save_torch
from echo_from_noise.cli import config_from_dict
from echo_from_noise.errors import UserError
from .config import AutoencoderConfig
from .network import GammaVAE

FORMAT = "echo-from-noise/gamma-vae-checkpoint"
VERSION = 1
STABLE_NAME = "autoencoder.pt"  # what later programs take (--autoencoder)
NAME_PATTERN = re.compile(r"^autoencoder_(\d+)\.pt$")


def checkpoint_name(epoch: int) -> str:
    return f"autoencoder_{epoch:04d}.pt"


def list_checkpoints(folder: str) -> list[tuple[int, str]]:
    """(epoch, path) of the numbered checkpoints in a folder, oldest first."""
    found = [(int(m.group(1)), storage.join(folder, name)) for name in storage.listdir(folder)
             if (m := NAME_PATTERN.match(name))]
    return sorted(found)


def latest_checkpoint(folder: str) -> str | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def prune_checkpoints(folder: str, keep: int) -> None:
    """Delete all but the newest ``keep`` numbered checkpoints (0: delete nothing)."""
    if keep > 0:
        for _, path in list_checkpoints(folder)[:-keep]:
            storage.remove(path)


def save_checkpoint(path: str, state: dict) -> None:
    save_torch(path, {"format": FORMAT, "version": VERSION, **state})


def read_checkpoint(path: str) -> dict:
    """A Gamma-VAE checkpoint of this project, on the CPU; UserError naming the file otherwise."""
    state = load_torch(path, FORMAT, "a Gamma-VAE checkpoint of this project", key="format")
    if state.get("version") != VERSION:
        raise UserError(f"{path}: Gamma-VAE checkpoint version {state.get('version')} is not "
                        f"supported (this code reads version {VERSION})")
    return state


def autoencoder_config_of(state: dict, path: str) -> AutoencoderConfig:
    try:
        return config_from_dict(AutoencoderConfig, state["autoencoder_config"])
    except (KeyError, TypeError, UserError) as error:
        raise UserError(f"{path}: checkpoint configuration is unusable ({error})") from None


def load_autoencoder(path: str, device: str | torch.device = "cpu") -> GammaVAE:
    """The trained Gamma-VAE of a checkpoint file, in eval mode (its options as ``.config``)."""
    state = read_checkpoint(path)
    model = GammaVAE(autoencoder_config_of(state, path))
    load_weights(model, state["model"], path)
    return model.to(device).eval()


def weights_digest(model: torch.nn.Module) -> str:
    """16 hex digits of the sha256 of the state dict (names, dtypes, shapes, bytes, in order):
    recognises the autoencoder a latent model was trained with."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
