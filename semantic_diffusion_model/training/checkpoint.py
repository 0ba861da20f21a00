"""Training checkpoints: one file per saved step holding everything needed to continue or sample.

A checkpoint is a plain dictionary (loadable with ``torch.load(weights_only=True)``):
format, version, step, config (the whole training configuration), model_config,
diffusion_config, label_dropout, model, ema, optimizer, grad_scaler, rng. Files are named
``checkpoint_<step>.pt`` in the run folder, written atomically, the newest k kept.
"""
from __future__ import annotations

import torch

from echo_from_noise.checkpoint_files import CheckpointFormat, load_weights
from echo_from_noise.cli import config_from_dict, config_to_dict
from echo_from_noise.errors import UserError
from ..config import DiffusionConfig, ModelConfig
from ..formulations import formulation_of
from ..network.unet import SPADEUNet
from .checkpoint_series import CheckpointSeries


def upgrade_version_1(state: dict) -> None:
    """Version 1's vb_weight multiplied T L_t: the same loss is vb_weight x T on L_t."""
    diffusion = state.get("diffusion_config")
    if not isinstance(diffusion, dict):
        return  # (configs_of refuses it)
    steps = diffusion.get("diffusion_steps", DiffusionConfig.diffusion_steps)
    weight = diffusion.get("vb_weight", 0.001) * steps
    diffusion["vb_weight"] = weight
    if isinstance(state.get("config"), dict):
        state["config"]["vb_weight"] = weight


# version 2: vb_weight weighs the per-timestep term L_t (version 1: L_vlb = T L_t); formulations
FORMAT = CheckpointFormat("echo-from-noise/sdm-checkpoint", 2,
                          "a semantic diffusion model checkpoint of this project", "checkpoint",
                          upgrades={1: upgrade_version_1})
save_checkpoint, load_checkpoint = FORMAT.save, FORMAT.read
SERIES = CheckpointSeries("checkpoint", 7)  # checkpoint_<step>.pt
checkpoint_name, list_checkpoints = SERIES.name, SERIES.list


def configs_of(state: dict, path: str = "checkpoint") -> tuple[ModelConfig, DiffusionConfig]:
    try:
        configs = (config_from_dict(ModelConfig, state["model_config"]),
                   config_from_dict(DiffusionConfig, state["diffusion_config"]))
        formulation_of(configs[1])  # a formulation this code knows
        return configs
    except (KeyError, TypeError, UserError) as error:
        raise UserError(f"{path}: checkpoint configuration is unusable ({error})") from None


def check_compatible(state: dict, path: str, model_config: ModelConfig,
                     diffusion_config: DiffusionConfig) -> None:
    """UserError naming the differences if a checkpoint was made for another configuration."""
    saved_model, saved_diffusion = configs_of(state, path)
    current = {**config_to_dict(model_config), **config_to_dict(diffusion_config)}
    saved = {**config_to_dict(saved_model), **config_to_dict(saved_diffusion)}
    differences = [f"{k} {saved[k]} != {current[k]}" for k in current
                   if k != "grad_checkpoint" and saved.get(k) != current[k]]
    if differences:
        raise UserError(f"{path}: checkpoint was made for another configuration "
                        f"({', '.join(differences)})")


def model_from_state(state: dict, path: str, device: str | torch.device = "cpu",
                     use_ema: bool = True):
    """Rebuild the network of a loaded checkpoint -> (model in eval mode, DiffusionConfig,
    ModelConfig). EMA weights by default. The model is the formulation's network (x, level, y):
    the UNet of a ddpm checkpoint, the preconditioned denoiser D(x, sigma, y) of the EDM family,
    the velocity v(x, t, y) of a rectified flow."""
    model_config, diffusion_config = configs_of(state, path)
    model_config.grad_checkpoint = False
    model = SPADEUNet(model_config)
    load_weights(model, state["ema"] if use_ema else state["model"], path)
    model = formulation_of(diffusion_config, model_config.learn_sigma).network(model)
    return model.to(device).eval(), diffusion_config, model_config


def load_model(path: str, device: str | torch.device = "cpu", use_ema: bool = True):
    """Rebuild the network from a checkpoint file alone (see model_from_state)."""
    return model_from_state(load_checkpoint(path), path, device, use_ema)
