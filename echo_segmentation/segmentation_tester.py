"""Testing a trained segmenter on real images: the work of the program echo_segmentation.test.

read the checkpoint and every test image (all checked before anything is written) -> predict at
the network's input size -> score each image against its ground truth -> summarise -> write the
results folder (results_folder: metrics.csv, summary.json, report.md, figures, predictions) and
config.json -> one closing line.

Images whose size differs from the network's input are resized for prediction and the predictions
resized back (nearest), so metrics are computed at the size of the ground truth.
"""
from __future__ import annotations

import numpy as np

from echo_from_noise.cli import save_config
from echo_from_noise.device import pick_device
from echo_from_noise.files import check_writable

from .data import list_pairs, read_pair
from .inference import predict_images
from .model import load_model
from .report import headline
from .results_folder import REPORT_FILE, write_results
from .segmentation_scores import results_summary, score_images, spacing_for


def read_test_images(data_dir: str, split: str, views: tuple[str, ...] | None, size: int
                     ) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Stems, images and ground truths of one split, each read and checked; a warning names the
    image sizes that the network (at ``size`` x ``size``) resizes."""
    pairs = list_pairs(data_dir, split, views)
    images, truths = zip(*(read_pair(p) for p in pairs))
    other = sorted({im.shape for im in images if im.shape != (size, size)})
    if other:
        print(f"warning: the network runs at {size} x {size}; images of size "
              f"{', '.join(f'{h} x {w}' for h, w in other)} are resized for prediction and the "
              f"predictions resized back (nearest)")
    return [p.stem for p in pairs], list(images), list(truths)


def run_segmentation_test(config) -> None:
    """Test the checkpoint of ``config`` (a TestConfig of echo_segmentation.test) on its test
    images and write the results folder ``config.out_dir``."""
    device = pick_device(config.device)
    network, train_config, checkpoint = load_model(config.checkpoint, device)
    size = train_config.image_size
    stems, images, truths = read_test_images(config.data_dir, config.split, config.views, size)
    spacing = spacing_for(stems, config.data_dir)
    out = check_writable(config.out_dir)

    predictions = predict_images(network, images, size, checkpoint["normalisation"], device,
                                 config.batch_size, train_config.amp)
    rows = score_images(stems, predictions, truths, spacing)
    summary = results_summary(config, out, spacing, rows, train_config, checkpoint)
    write_results(out, rows, summary, images, truths, predictions, config.save_predictions)
    save_config(config, out / "config.json")
    print(f"{headline(summary)}; report: {out / REPORT_FILE}")
