"""One rank's sampling job: the checkpoint loaded once, its network, sampler and space (pixels or
latents), and the settings that decide the images (recorded in each view folder)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from echo_from_noise.device import autocast_dtype
from ..config import ModelConfig
from ..formulations import formulation_of
from ..samplers import Sampler
from ..samplers.guidance import effective_guidance_scale
from ..space.choice import checkpoint_space
from ..space.latent import LatentSpace
from ..space.pixel import PixelSpace
from ..training.checkpoint import load_checkpoint, model_from_state
from ..training.distributed import DistContext
from .config import Config
from .work_claims import Claims


@dataclass
class Job:
    """One rank's part of a sampling job: its options, the network and sampler (the checkpoint is
    loaded once) and the claims it holds on maps of the shared output folder."""

    config: Config
    ctx: DistContext
    model: torch.nn.Module
    model_config: ModelConfig
    trained_views: list[str]
    sampler: Sampler
    guidance_scale: float  # in effect: 1 (off) for a model that never learned the null map
    amp_dtype: torch.dtype | None
    claims: Claims
    space: PixelSpace | LatentSpace  # where the network works: image and network sides, decoding

    @classmethod
    def load(cls, config: Config, ctx: DistContext) -> "Job":
        """Read the checkpoint (once), rebuild its network and prepare the sampler."""
        state = load_checkpoint(config.checkpoint)
        model, diffusion_config, model_config = model_from_state(state, config.checkpoint,
                                                                 ctx.device, config.use_ema)
        scale = effective_guidance_scale(config.guidance_scale,
                                         float(state.get("label_dropout", 0.0)), warn=ctx.is_main)
        space = checkpoint_space(state, config.checkpoint, model_config, config.autoencoder,
                                 ctx.device)
        clip = config.clip_denoised and space.bounded
        process = formulation_of(diffusion_config, model_config.learn_sigma).process()
        sampler = Sampler(config.sampler, process,
                          config.steps, options=config, what=config.checkpoint, clip_denoised=clip)
        trained_views = list((state.get("config") or {}).get("views") or [])
        return cls(config, ctx, model, model_config, trained_views, sampler, scale,
                   autocast_dtype(config.precision, ctx.device),
                   Claims(config.claim_timeout_minutes * 60), space)

    @property
    def out_dir(self) -> Path:
        return Path(self.config.out_dir)

    def folder(self, view: str) -> Path:
        """The output folder of a view ("" for maps that tell no view: --out-dir itself)."""
        return self.out_dir / view if view else self.out_dir

    @property
    def generation(self) -> dict:
        """The settings that decide the images (recorded in each view folder's sample_config.json)."""
        c, sampler = self.config, self.sampler
        checkpoint = c.checkpoint if "://" in c.checkpoint else os.path.abspath(c.checkpoint)
        return {"checkpoint": checkpoint, "use_ema": c.use_ema, "sampler": sampler.name,
                "steps": sampler.steps,
                # what the sampler reads on this checkpoint (recorded only for it: folders sampled
                # before an option existed still match)
                **sampler.recorded_options,
                "guidance_scale": self.guidance_scale,
                "clip_denoised": sampler.options.clip_denoised,
                **self.space.generation,
                "seed": c.seed,
                "precision": str(self.amp_dtype or torch.float32).removeprefix("torch."),
                "image_size": self.space.image_size}
