"""The checks of the Gamma-VAE training program (semantic_diffusion_model.train_autoencoder) before
it writes anything: its options and the checkpoint it would continue."""
from __future__ import annotations

from echo_from_noise.cli import config_to_dict, require_at_least
from echo_from_noise.errors import UserError
from .checkpoint import autoencoder_config_of
from .config import AutoencoderTrainConfig

# training options a resumed run must share with its checkpoint (besides the network and loss)
FIXED_ON_RESUME = ("views", "batch_size", "seed", "lr", "random_flip")


def check_options(config: AutoencoderTrainConfig) -> None:
    require_at_least(config, epochs=1, batch_size=1, image_size=1, num_res_blocks=1,
                     norm_groups=1, save_interval=1, eval_interval=1, keep_checkpoints=0)
    if not config.channels or any(c % config.norm_groups for c in config.channels):
        raise UserError(f"--channels {' '.join(map(str, config.channels))}: each must be a "
                        f"multiple of --norm-groups {config.norm_groups}")
    if config.image_size % config.latent_factor:
        raise UserError(f"--image-size {config.image_size} must be divisible by "
                        f"{config.latent_factor} (2^{len(config.channels) - 1} for "
                        f"{len(config.channels)} --channels)")
    if config.prior_alpha <= 0 or config.prior_beta <= 0:
        raise UserError("--prior-alpha and --prior-beta must be positive")


def check_compatible(state: dict, path: str, config: AutoencoderTrainConfig) -> None:
    """UserError naming the differences if the checkpoint was trained otherwise."""
    saved = {**config_to_dict(autoencoder_config_of(state, path)),
             **{k: state.get("config", {}).get(k) for k in FIXED_ON_RESUME}}
    current = config_to_dict(config)
    differences = [f"{k} {saved[k]} != {current[k]}" for k in saved if saved[k] != current[k]]
    if differences:
        raise UserError(f"{path}: checkpoint was made for another configuration "
                        f"({', '.join(differences)}); use another --out-dir")
