"""Training configuration of the view classifier (one dataclass; the options of the program)."""
from __future__ import annotations

from dataclasses import dataclass, field

from echo_from_noise.cli import require_at_least, required
from echo_from_noise.errors import UserError

from ..run_folder import out_dir_option
from .data import CLASS_NAMES

NETWORKS = ("efficientnet-b0", "densenet121")

# the augmentation (no horizontal flip: a mirrored apical view looks like another view)
ROTATE_DEG = 10.0
ZOOM_RANGE = (0.9, 1.1)
GAMMA_RANGE = (0.7, 1.5)

# both networks downsample by 32: below 64 px their deepest features are 1 x 1, where batch norm
# cannot train on a batch of a single image
SMALLEST_SAFE_SIZE = 64

# options that may differ when a run is resumed (they do not change what an epoch computes)
RESUMABLE_CHANGES = ("resume", "epochs", "num_workers", "device")


@dataclass
class ViewTrainConfig:
    data_dir: str = required("training data: a step-3 samples root SAMPLES/<VIEW>/samples (label = "
                             "the view folder, split from the name), a step-1 extraction root "
                             "EXTRACT/<VIEW>/images/<split>, or a step-4 dataset folder "
                             "SEG/<dataset>/images/<split> (view from the name); training/ and "
                             "validation/ splits are used")
    out_dir: str = out_dir_option("balanced accuracy")
    classes: str = field(default="chamber", metadata={
        "help": "'chamber' = 2 classes (2CH, 4CH); 'view' = 4 classes (2CH_ED, 2CH_ES, 4CH_ED, "
                "4CH_ES)", "choices": tuple(CLASS_NAMES)})
    network: str = field(default="densenet121", metadata={
        "help": "MONAI network trained from scratch: DenseNet121, or EfficientNetBN b0 (the "
                "follow-up used EfficientNetV2-S, which MONAI lacks; from scratch on a few hundred "
                "images b0 needs 3x the epochs of DenseNet121 to leave chance level)",
        "choices": NETWORKS})
    image_size: int = field(default=128, metadata={
        "help": "network input size in pixels (images are resized to it)"})
    batch_size: int = field(default=32, metadata={"help": "training batch size"})
    epochs: int = field(default=30, metadata={
        "help": "epochs; the cosine learning-rate schedule spans them"})
    lr: float = field(default=1e-3, metadata={
        "help": "initial AdamW learning rate (weight decay: AdamW's default 0.01)"})
    lr_min: float = field(default=1e-5, metadata={
        "help": "learning rate at the end of the cosine schedule (set per epoch)"})
    augment: bool = field(default=True, metadata={
        "help": f"random rotation (±{ROTATE_DEG:g} degrees), zoom ({ZOOM_RANGE[0]}-"
                f"{ZOOM_RANGE[1]}) and gamma ({GAMMA_RANGE[0]}-{GAMMA_RANGE[1]}), MONAI "
                f"transforms; never a horizontal flip (it changes the apparent view)"})
    augment_prob: float = field(default=0.5, metadata={
        "help": "probability that each random augmentation is applied to a training image"})
    resume: bool = field(default=False, metadata={
        "help": "continue the run saved in --out-dir/last.pt, or start it if there is none yet "
                "(same settings; --epochs, --num-workers and --device may change)"})
    seed: int = field(default=0, metadata={
        "help": "random seed (initialisation, order, augmentation)"})
    device: str = field(default="auto", metadata={
        "help": "'auto' (cuda when available, else cpu), 'cpu', 'cuda' or 'cuda:N'"})
    amp: bool = field(default=True, metadata={"help": "bfloat16 autocast on GPU (ignored on CPU)"})
    num_workers: int = field(default=0, metadata={
        "help": "data-loading worker processes (0 = in the main process)"})


def check_config(config: ViewTrainConfig) -> None:
    require_at_least(config, image_size=32, batch_size=1, epochs=1, num_workers=0)
    if not 0 <= config.augment_prob <= 1:
        raise UserError(f"--augment-prob must be in 0..1, got {config.augment_prob}")
    if config.lr <= 0 or config.lr_min < 0:
        raise UserError("--lr must be positive and --lr-min not negative")


def check_batches(config: ViewTrainConfig, num_training: int) -> None:
    """Refuse a training set whose last batch would be one image at 1 x 1 features."""
    if config.image_size < SMALLEST_SAFE_SIZE and num_training % config.batch_size == 1:
        raise UserError(f"--image-size {config.image_size} with {num_training} training images "
                        f"and --batch-size {config.batch_size} leaves a last batch of one image "
                        f"whose deepest features are 1 x 1 (batch norm fails): use another "
                        f"--batch-size or --image-size {SMALLEST_SAFE_SIZE} or more")
