"""The space of a training run (from its options) or of a checkpoint (from what it recorded)."""
from __future__ import annotations

import torch

from echo_from_noise.errors import UserError
from ..config import ModelConfig, TrainConfig
from .latent import LatentSpace
from .pixel import PixelSpace


def training_space(config: TrainConfig, device: torch.device | str,
                   explicit: tuple[str, ...] = ()) -> PixelSpace | LatentSpace:
    """Pixels, or the latents of --autoencoder. The images are read at the autoencoder's size:
    --image-size, when given (``explicit``), must be that size; when not given it becomes it."""
    if not config.autoencoder:
        return PixelSpace(config.image_size)
    space = LatentSpace.load(config.autoencoder, device)
    if "image_size" in explicit and config.image_size != space.image_size:
        raise UserError(f"--image-size {config.image_size} differs from the image size "
                        f"{space.image_size} of --autoencoder {config.autoencoder}; give "
                        f"--image-size {space.image_size} or leave it out")
    config.image_size = space.image_size
    return space


def checkpoint_space(state: dict, checkpoint: str, model_config: ModelConfig, override: str = "",
                     device: torch.device | str = "cpu") -> PixelSpace | LatentSpace:
    """The space a loaded checkpoint was trained in (``override``: its autoencoder's new place)."""
    if state.get("autoencoder"):
        return LatentSpace.of_checkpoint(state, checkpoint, override, device)
    if override:
        raise UserError(f"{checkpoint}: a pixel model; --autoencoder is only for latent models")
    return PixelSpace(model_config.image_size)
