"""The options a tester of a trained network starts with (echo_segmentation.test and
.test_view_classifier): --checkpoint from a trainer's run folder, --data-dir with the real test
data, --out-dir for the results."""
from __future__ import annotations

from dataclasses import dataclass

from echo_from_noise.cli import required

from .run_folder import BEST_FILE, LAST_FILE


def tester_options(network: str, trainer: str, data: str) -> type:
    """The dataclass of those three options that a tester's configuration derives from (so they
    come first): a ``network`` checkpoint of the program ``trainer``, the real test ``data``."""
    @dataclass
    class TesterOptions:
        checkpoint: str = required(f"{network} checkpoint ({BEST_FILE} or {LAST_FILE} of {trainer})")
        data_dir: str = required(f"real test data: {data}")
        out_dir: str = required("results folder")

    return TesterOptions
