"""The checks of the diffusion training program (semantic_diffusion_model.train) before it writes
anything: its options, the network they describe, and the checkpoint it would continue."""
from __future__ import annotations

from echo_from_noise.errors import UserError
from ..config import DiffusionConfig, ModelConfig, TrainConfig, sub_config
from .checkpoint import SERIES


def check_options(config: TrainConfig) -> None:
    """UserError for an option the training program cannot run with, from the options alone (the
    pipeline checks its commands with it); the network of a latent model is checked once its side
    is known (check_network)."""
    if config.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {config.batch_size}")
    if config.microbatch < 0 or config.microbatch > config.batch_size:
        raise UserError(f"--microbatch must be 0..{config.batch_size}, got {config.microbatch}")
    if not 0.0 <= config.label_dropout < 1.0:
        raise UserError(f"--label-dropout must be in [0, 1), got {config.label_dropout}")
    if config.lr_anneal_steps < 1 or config.max_steps < 0:
        raise UserError("--lr-anneal-steps must be >= 1 and --max-steps >= 0")
    if config.save_interval < 1 or config.log_interval < 1:
        raise UserError("--save-interval and --log-interval must be >= 1")
    if config.model_channels % config.norm_groups:
        raise UserError(f"--model-channels {config.model_channels} is not divisible by "
                        f"--norm-groups {config.norm_groups}")
    sub_config(DiffusionConfig, config).check()
    if not config.autoencoder:  # (a latent model's side is the autoencoder's latent side)
        check_network(config)


def check_network(config: ModelConfig) -> None:
    """What SPADEUNet's constructor would reject, as option errors (--image-size: the side the
    network works at, the latent side of a latent model)."""
    mult = config.resolved_channel_mult()  # UserError for a size without published multipliers
    factor = 2 ** (len(mult) - 1)  # each level but the last halves the feature maps
    if config.image_size % factor:
        below, above = config.image_size // factor * factor, (config.image_size // factor + 1) * factor
        sizes = f"{below} or {above}" if below else str(above)
        raise UserError(f"--image-size {config.image_size} must be divisible by {factor} (2^"
                        f"{len(mult) - 1} for --channel-mult {' '.join(map(str, mult))}), e.g. {sizes}")
    if config.num_head_channels < 1:
        raise UserError(f"--num-head-channels must be >= 1, got {config.num_head_channels}")
    sides = [config.image_size // 2 ** level for level in range(len(mult))]
    # attention at the chosen sides and always in the middle block (the last level's channels)
    channels = {m * config.model_channels for m, side in zip(mult, sides)
                if side in config.attention_resolutions} | {mult[-1] * config.model_channels}
    if any(c % config.num_head_channels for c in channels):
        raise UserError(f"--num-head-channels {config.num_head_channels} does not divide the "
                        f"channels of the attention layers ({', '.join(map(str, sorted(channels)))})")


def resume_path(config: TrainConfig) -> str | None:
    """The checkpoint to continue from, following --resume (see its help)."""
    if config.resume == "auto":
        return SERIES.latest(config.out_dir)
    if config.resume == "none":
        existing = SERIES.latest(config.out_dir)
        if existing:
            raise UserError(f"{config.out_dir}: holds checkpoints already ({existing}); use "
                            "--resume auto to continue them or choose another --out-dir")
        return None
    return config.resume


def check_same_space(state: dict, path: str, record: dict | None) -> None:
    """UserError unless a checkpoint was trained in the space described by ``record`` (pixels:
    None; latents: the digest of the same autoencoder)."""
    saved = (state.get("autoencoder") or {}).get("digest")
    if saved != (record or {}).get("digest"):
        raise UserError(f"{path}: checkpoint was trained "
                        f"{'on the latents of another autoencoder' if saved else 'on pixels'}; "
                        "give the same --autoencoder or choose another --out-dir")
