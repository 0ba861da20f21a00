"""The options of the sampling program (semantic_diffusion_model.sample) and their checks."""
from __future__ import annotations

from dataclasses import dataclass, field

from echo_from_noise.cli import required
from echo_from_noise.contract import SPLITS, VIEWS
from echo_from_noise.device import PRECISIONS
from echo_from_noise.errors import UserError
from echo_from_noise.launch import DIST_HOST_HELP
from ..samplers import SamplerConfig


@dataclass
class Config(SamplerConfig):
    checkpoint: str = required("checkpoint written by semantic_diffusion_model.train (local path or gs:// / az:// URL)")
    maps_dir: str = required("label maps: a step-2 root (its <VIEW>_augmented/sector_annotations/<split> folders), one view's map folder with split subfolders, or a plain folder of map PNGs")
    out_dir: str = required("output root (step 3 layout: <VIEW>/samples, labels, labels_visible, combined)")
    views: tuple[str, ...] = field(default=VIEWS, metadata={"help": "views to sample (maps of other views are left out)", "choices": VIEWS})
    splits: tuple[str, ...] = field(default=("training", "validation"), metadata={"help": "split subfolders to sample (the testing split stays real)", "choices": SPLITS})
    guidance_scale: float = field(default=1.0, metadata={"help": "classifier-free guidance scale s (eps = eps_null + s (eps_map - eps_null)); 1 = off (the paper); needs a model trained with --label-dropout > 0"})
    batch_size: int = field(default=16, metadata={"help": "maps sampled together on each process"})
    seed: int = field(default=0, metadata={"help": "global seed; each map's noise is seeded by (seed, map name)"})
    precision: str = field(default="auto", metadata={"help": "network precision: auto = bf16 on GPUs that support it, else fp32", "choices": PRECISIONS})
    num_samples: int = field(default=0, metadata={"help": "sample only the first N maps of the sorted set (0 = all)"})
    samples_per_map: int = field(default=1, metadata={"help": "images per map, each from its own noise: the first is named after the map, the k-th extra one <name>_s<k> (for diversity: evaluate_synthetic compares the images of one map)"})
    use_ema: bool = field(default=True, metadata={"help": "use the EMA weights of the checkpoint (else the raw weights)"})
    contact_sheet_rows: int = field(default=8, metadata={"help": "maps shown in each view's contact_sheet.png (0 = none)"})
    autoencoder: str = field(default="", metadata={"help": "latent models: the Gamma-VAE to decode with (default: the path the checkpoint recorded; it must be the same network, checked by a digest of its weights)"})
    claim_timeout_minutes: float = field(default=30.0, metadata={"help": "jobs sharing --out-dir claim each map they generate (a hidden <VIEW>/.<name>.png.claim file, refreshed while they work); a claim of a dead process on this host is taken over at once, one from another host after this many minutes without refresh"})
    dist_host: str = field(default="", metadata={"help": DIST_HOST_HELP})


def check_options(config: Config) -> None:
    """UserError for an option value the program cannot run with."""
    if config.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {config.batch_size}")
    if config.steps < 0 or config.num_samples < 0 or config.contact_sheet_rows < 0:
        raise UserError("--steps, --num-samples and --contact-sheet-rows must be >= 0")
    if config.samples_per_map < 1:
        raise UserError(f"--samples-per-map must be >= 1, got {config.samples_per_map}")
    if config.guidance_scale < 0:
        raise UserError(f"--guidance-scale must be >= 0, got {config.guidance_scale}")
    if config.claim_timeout_minutes <= 0:
        raise UserError(f"--claim-timeout-minutes must be > 0, got {config.claim_timeout_minutes}")
