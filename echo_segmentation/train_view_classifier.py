"""Train a view classifier (2CH vs 4CH, or the four views) on real or synthetic echocardiograms.

--data-dir is a step-3 samples root (the label of a sample is the view folder it lies in), a step-1
extraction root or a step-4 dataset folder; its training/ and validation/ splits are used. Every
epoch is validated; OUT/best.pt keeps the best validation balanced accuracy (ties: lower validation
loss), OUT/last.pt the latest state, OUT/log.csv one row per epoch (and OUT/tensorboard/ when
TensorBoard is installed). Killed at any time, the same command with --resume continues after the
last finished epoch and ends with the weights an uninterrupted run would have.

    python -m echo_segmentation.train_view_classifier --data-dir SAMPLES --out-dir runs/views
    python -m echo_segmentation.test_view_classifier --checkpoint runs/views/best.pt \\
        --data-dir EXTRACT --out-dir results/views
"""
from __future__ import annotations

from echo_from_noise.cli import program

from .view_classifier.config import ViewTrainConfig
from .view_classifier.trainer import ViewClassifierTrainer


def run(config: ViewTrainConfig) -> None:
    ViewClassifierTrainer(config).run()


main = program(ViewTrainConfig, run, __doc__)


if __name__ == "__main__":
    main()
