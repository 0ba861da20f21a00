"""The run folder of a trainer (--out-dir of echo_segmentation.train and .train_view_classifier), its
files named once:

    config.json   the run's configuration and facts of its data
    log.csv       one row per epoch
    last.pt       the newest state (what --resume continues)
    best.pt       the epoch with the best validation score
    tensorboard/  the epochs' scalars, when TensorBoard is installed
"""
from __future__ import annotations

from echo_from_noise.cli import required

CONFIG_FILE, LOG_FILE, LAST_FILE, BEST_FILE = "config.json", "log.csv", "last.pt", "best.pt"
TENSORBOARD_FOLDER = "tensorboard"


def out_dir_option(best_score: str):
    """The --out-dir option of a trainer whose best.pt keeps the best validation ``best_score``."""
    return required(f"run folder: {CONFIG_FILE}, {LOG_FILE}, {LAST_FILE} (for --resume), "
                    f"{BEST_FILE} (best validation {best_score})")
