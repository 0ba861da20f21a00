"""What a training run keeps: the run to continue (--resume), and after every epoch best.pt (when
the validation score improved), last.pt, log.csv and TensorBoard scalars."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from echo_from_noise.cli import config_from_dict, config_to_dict
from echo_from_noise.errors import UserError
from echo_from_noise.files import write_csv

from ..run_folder import BEST_FILE, LAST_FILE, LOG_FILE, TENSORBOARD_FOLDER


def resumed_state(config, last: Path, read: Callable[[Path], dict],
                  resumable: tuple[str, ...]) -> dict | None:
    """The checkpoint to continue from (checked against this command), or None for a new run.

    ``read`` loads a checkpoint of the program, ``resumable`` names the options that may differ.
    """
    if not config.resume:
        if last.exists():
            raise UserError(f"{last}: the output folder already holds a run; add --resume to "
                            f"continue it or choose another --out-dir")
        return None
    if not last.exists():
        print(f"--resume: no {last} yet, starting a new run")
        return None
    checkpoint = read(last)
    saved = config_to_dict(config_from_dict(type(config), checkpoint["config"]))
    for name, value in config_to_dict(config).items():
        if name not in resumable and saved[name] != value:
            raise UserError(f"{last}: saved run has {name}={saved[name]!r}, this command "
                            f"{value!r}; resume with the same settings or use another --out-dir")
    return checkpoint


def tensorboard_writer(out: Path, start_epoch: int):
    """A TensorBoard writer continuing after ``start_epoch``, or None without TensorBoard."""
    try:  # optional: TensorBoard need not be installed
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / TENSORBOARD_FOLDER), purge_step=start_epoch + 1)


def save_epoch(out: Path, content: dict, row: dict, writer, save: Callable[..., None],
               fields: list[str], scalars: tuple[str, ...]) -> None:
    """best.pt if the epoch improved, last.pt (both written by ``save``), log.csv with the
    columns ``fields`` and the ``scalars`` in TensorBoard."""
    if row["best"]:
        save(out / BEST_FILE, **content)
    save(out / LAST_FILE, **content)
    write_csv(out / LOG_FILE, fields, content["history"])
    if writer:
        for key in scalars:
            writer.add_scalar(key, row[key], row["epoch"])
        writer.flush()
