"""Train a segmentation network (MONAI UNet) on a step-4 dataset folder (docs/data_contract.md).

Reads DATA/{images,annotations}/{training,validation}/*.png, validates every epoch, keeps the best
model by mean validation Dice (LV endo, LV epi, LA) in OUT/best.pt and the latest state in
OUT/last.pt; OUT/log.csv has one row per epoch (and OUT/tensorboard/ when TensorBoard is installed).
Killed at any time, the same command with --resume continues after the last finished epoch (with
--resume from the start, the very same command line both starts and continues the run).

    python -m echo_segmentation.train --data-dir SEG/real --out-dir runs/real --max-minutes 20
    python -m echo_segmentation.train --data-dir SEG/real --out-dir runs/paper --preset paper
"""
from __future__ import annotations

from echo_from_noise.cli import program

from .config import TrainConfig
from .segmentation_trainer import SegmentationTrainer, check_options  # noqa: F401


def run(config: TrainConfig) -> None:
    SegmentationTrainer(config).run()


CONFIG = TrainConfig  # with check_options above: what the pipeline checks its options with
main = program(CONFIG, run, __doc__)


if __name__ == "__main__":
    main()
