"""Gamma-VAE checkpoints: ``autoencoder_<epoch>.pt`` per save and ``autoencoder.pt``, the newest.

A checkpoint is a plain dictionary (``torch.load(weights_only=True)``): format, version, epoch,
step, config (the whole training configuration), autoencoder_config (rebuilds the network),
model, optimizer, grad_scaler, rng, weights_digest. Written atomically.
"""
from __future__ import annotations

import hashlib

import torch

from echo_from_noise.checkpoint_files import CheckpointFormat, load_weights
from echo_from_noise.cli import config_from_dict
from echo_from_noise.errors import UserError
from ..training.checkpoint_series import CheckpointSeries
from .config import AutoencoderConfig
from .network import GammaVAE

FORMAT = CheckpointFormat("echo-from-noise/gamma-vae-checkpoint", 1,
                          "a Gamma-VAE checkpoint of this project", "Gamma-VAE checkpoint")
save_checkpoint, read_checkpoint = FORMAT.save, FORMAT.read
STABLE_NAME = "autoencoder.pt"  # what later programs take (--autoencoder)
SERIES = CheckpointSeries("autoencoder", 4)  # autoencoder_<epoch>.pt
list_checkpoints = SERIES.list


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
