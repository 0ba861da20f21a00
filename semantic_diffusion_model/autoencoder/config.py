"""Options of the Gamma-VAE (network and loss) and of its training program.

The defaults are the settings of the follow-up paper's released code (../shared/DESIGN.md):
channels (64, 128, 192) = the quarter-size latent (L64 at 256 px), (64, 128) = the half-size one
(L128); prior Gamma(3.75, rate 10.8); loss weights reconstruction 10, KL 1e-3, latent 1e-2,
perceptual 1e-3; 200 epochs, batch 12. Each field is one command-line option (echo_from_noise.cli).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from echo_from_noise.cli import required
from echo_from_noise.contract import VIEWS
from echo_from_noise.device import PRECISIONS
from echo_from_noise.launch import DIST_HOST_HELP

from .gamma import PRIOR_ALPHA, PRIOR_BETA


@dataclass
class AutoencoderConfig:
    """The network and its loss (saved in every checkpoint; rebuilds the network alone)."""

    image_size: int = field(default=256, metadata={"help": "side of the square images the autoencoder works on (pixels)"})
    channels: tuple[int, ...] = field(default=(64, 128, 192), metadata={"help": "channels per level of MONAI's AutoencoderKL encoder and decoder; each level but the last halves the side: 64 128 = latent side image/2 (the paper's L128 at 256 px), 64 128 192 = image/4 (L64)"})
    num_res_blocks: int = field(default=2, metadata={"help": "residual blocks per level"})
    norm_groups: int = field(default=32, metadata={"help": "groups of every GroupNorm (every channel count must be divisible by it)"})
    nonlocal_attention: bool = field(default=False, metadata={"help": "MONAI's non-local attention block at the lowest level of encoder and decoder"})
    prior_alpha: float = field(default=PRIOR_ALPHA, metadata={"help": "shape of the Gamma prior of every latent pixel"})
    prior_beta: float = field(default=PRIOR_BETA, metadata={"help": "rate of the Gamma prior of every latent pixel"})
    recon_weight: float = field(default=10.0, metadata={"help": "weight of the reconstruction MSE (images in [0, 1])"})
    kl_weight: float = field(default=1e-3, metadata={"help": "weight of KL(posterior || prior), averaged over the latent pixels inside the scan sector"})
    latent_weight: float = field(default=1e-2, metadata={"help": "weight of the MSE between the latent mean E[z] and the image average-pooled to the latent size"})
    perceptual_weight: float = field(default=1e-3, metadata={"help": "weight of the perceptual term (used only with --perceptual-network)"})
    perceptual_network: str = field(default="", metadata={"help": "an echo_segmentation checkpoint (e.g. best.pt) whose first encoder blocks give the features of the perceptual term; empty = no perceptual term (no pretrained network can be downloaded here)"})

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)

    @property
    def latent_factor(self) -> int:
        """Image side / latent side: every level but the last halves the feature maps."""
        return 2 ** (len(self.channels) - 1)

    @property
    def latent_size(self) -> int:
        return self.image_size // self.latent_factor


@dataclass
class AutoencoderTrainConfig(AutoencoderConfig):
    """Every option of semantic_diffusion_model.train_autoencoder."""

    data_dir: str = required("step-2 folder (LABELS) with <VIEW>/sector_annotations and <VIEW>/images, split into training, validation and testing")
    out_dir: str = required("folder for checkpoints, config.json, progress.csv, reconstructions.png and evaluation.json")
    views: tuple[str, ...] = field(default=VIEWS, metadata={"help": "views whose real images are used (training, validation and testing splits)", "choices": VIEWS})
    epochs: int = field(default=200, metadata={"help": "training epochs (one epoch = ceil(training images / global batch) steps); a later run with a larger value continues"})
    batch_size: int = field(default=12, metadata={"help": "images per step on each process (GPU)"})
    lr: float = field(default=1e-4, metadata={"help": "Adam learning rate (constant)"})
    random_flip: bool = field(default=True, metadata={"help": "random horizontal flip of the training images"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, data order, flips and latent draws (each step's randomness derives from seed, step and rank)"})
    save_interval: int = field(default=1, metadata={"help": "write a checkpoint every this many epochs (and always at the end)"})
    keep_checkpoints: int = field(default=3, metadata={"help": "keep only the newest k autoencoder_<epoch>.pt (0 = keep all); autoencoder.pt is always the newest"})
    eval_interval: int = field(default=1, metadata={"help": "validation PSNR/SSIM every this many epochs (and always at the end)"})
    num_workers: int = field(default=4, metadata={"help": "threads that decode the PNG files at start (the data is kept in memory)"})
    dist_host: str = field(default="", metadata={"help": DIST_HOST_HELP})
    precision: str = field(default="auto", metadata={"help": "compute precision: auto = bf16 autocast on GPUs that support it, else fp32; fp16 uses loss scaling", "choices": PRECISIONS})
