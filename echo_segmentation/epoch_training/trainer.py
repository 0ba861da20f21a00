"""EpochTrainer: the whole run of an epoch-training program, which a task subclasses.

run():  check the options -> the run to continue (--resume) -> data -> the output folder ->
        network, optimiser and state (new and seeded, or the resumed run's) -> config.json ->
        the epochs -> one closing line.
Each epoch: the learning rate of the cosine schedule (by epoch, never time) -> one pass over the
shuffled, augmented training set (seeded per epoch, so that a resumed run repeats an uninterrupted
one exactly) -> validation -> the state, best.pt when the validation score improved, last.pt,
log.csv, TensorBoard -> one printed line.

What a task supplies (see the methods that raise NotImplementedError): its options check, its
checkpoints, data, network, optimiser, training transform and items, loss, validation and the
log columns of its validation scores; ``score_column`` of the row is the score that picks best.pt.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import torch
from monai.data import Dataset

from echo_from_noise.cli import config_to_dict, save_config
from echo_from_noise.device import pick_device
from echo_from_noise.files import check_writable, remove_temporaries
from echo_from_noise.launch import require_one_process

from ..model import stop_note
from ..run_folder import CONFIG_FILE, LAST_FILE
from .records import resumed_state, save_epoch, tensorboard_writer
from .steps import cosine_lr, epoch_loader, set_learning_rate, train_epoch


class EpochTrainer:
    program = ""                       # the module name of the program (one process only)
    resumable: tuple[str, ...] = ()    # options that may differ when a run is resumed
    initial_state: dict[str, Any] = {}  # epoch, elapsed_s, best_epoch, history and best_key
    best_key = ""                      # the state's best score
    score_column = ""                  # the log column that is compared with it
    log_fields: list[str] = []
    scalars: tuple[str, ...] = ()      # the log columns sent to TensorBoard
    stops_for_time = False             # whether --max-minutes may stop the run early

    def __init__(self, config):
        self.config = config

    # --- what a task supplies ------------------------------------------------------------------

    def checked_config(self, config):
        """The configuration to run (checked, presets resolved); UserError when it cannot be."""
        raise NotImplementedError

    def read_checkpoint(self, path: Path) -> dict:
        raise NotImplementedError

    def save_checkpoint(self, path: Path, **content: Any) -> None:
        raise NotImplementedError

    def load_data(self, checkpoint: dict | None):
        """Both splits (train_images, train_labels, val_labels, normalisation and what validate
        needs); a resumed run keeps the saved normalisation."""
        raise NotImplementedError

    def build_network(self) -> torch.nn.Module:
        raise NotImplementedError

    def make_optimizer(self, network: torch.nn.Module) -> torch.optim.Optimizer:
        raise NotImplementedError

    def training_transform(self, normalisation: dict[str, float]):
        raise NotImplementedError

    def training_items(self, data) -> list[dict]:
        """The training set as {"image", "label"} items for the transform."""
        raise NotImplementedError

    def make_loss(self):
        raise NotImplementedError

    def validate(self, model: torch.nn.Module, data, device: torch.device):
        raise NotImplementedError

    def validation_columns(self, scores) -> dict[str, float]:
        """The log columns of the validation scores, ``score_column`` among them."""
        raise NotImplementedError

    def print_epoch(self, row: dict, epoch_s: float) -> None:
        raise NotImplementedError

    def print_done(self, state: dict, out: Path) -> None:
        raise NotImplementedError

    def run_facts(self) -> dict:
        """What checkpoints and config.json hold beside the defaults (nothing by default)."""
        return {}

    def training_model(self, network: torch.nn.Module) -> torch.nn.Module:
        """The module that trains and validates (the network itself by default)."""
        return network

    def improved(self, state: dict, columns: dict[str, float]) -> bool:
        return columns[self.score_column] > state[self.best_key]

    # --- the run -------------------------------------------------------------------------------

    def run(self) -> None:
        require_one_process(self.program)  # one task under srun etc.
        self.config = config = self.checked_config(self.config)
        out = Path(config.out_dir)
        checkpoint = resumed_state(config, out / LAST_FILE, self.read_checkpoint, self.resumable)
        device = pick_device(config.device)
        data = self.load_data(checkpoint)
        check_writable(out)  # only now: bad input above leaves no output folder behind
        remove_temporaries(out)  # a checkpoint half-written when an earlier run was killed
        network, optimizer, state = self.start(checkpoint, device)
        save_config(config, out / CONFIG_FILE, extra={
            **self.run_facts(), "normalisation": data.normalisation,
            "num_training": len(data.train_labels), "num_validation": len(data.val_labels),
            "parameters": sum(p.numel() for p in network.parameters())})
        self.train_epochs(out, data, network, optimizer, state, device)
        self.print_done(state, out)

    def start(self, checkpoint: dict | None, device: torch.device):
        """The network, its optimizer and the training state: new (seeded), or the resumed run's."""
        torch.manual_seed(self.config.seed)
        network = self.build_network().to(device)
        optimizer = self.make_optimizer(network)
        state = copy.deepcopy(self.initial_state)
        if checkpoint:
            network.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            state = {k: checkpoint.get(k) for k in state}
            print(f"resuming after epoch {state['epoch']} "
                  f"({state['elapsed_s'] / 60:.1f} min so far)")
        return network, optimizer, state

    def checkpoint_content(self, normalisation: dict, network, optimizer, state: dict) -> dict:
        return dict(config=config_to_dict(self.config), normalisation=normalisation,
                    model=network.state_dict(), optimizer=optimizer.state_dict(), **state,
                    **self.run_facts())

    def train_epochs(self, out: Path, data, network, optimizer, state: dict,
                     device: torch.device) -> None:
        """Train from the state's epoch up to --epochs, each epoch validated, checkpointed and
        logged; with ``stops_for_time``, stop (marked in the state and last.pt) before an epoch
        that would exceed --max-minutes."""
        config = self.config
        model = self.training_model(network)
        transform = self.training_transform(data.normalisation)
        dataset = Dataset(self.training_items(data), transform)
        loss_fn = self.make_loss()
        writer = tensorboard_writer(out, state["epoch"])
        budget_s = math.inf
        if self.stops_for_time:
            budget_s = config.max_minutes * 60 if config.max_minutes else math.inf
            state["stopped_by"] = None  # a resumed run may have been stopped by a lower budget
        last_epoch_s = state["history"][-1]["epoch_s"] if state["history"] else 0.0
        for epoch in range(state["epoch"], config.epochs):
            if state["elapsed_s"] + last_epoch_s > budget_s:
                self.stop_for_time_budget(state, epoch)
                self.save_checkpoint(out / LAST_FILE, **self.checkpoint_content(
                    data.normalisation, network, optimizer, state))
                break
            started = time.monotonic()
            lr = set_learning_rate(optimizer, cosine_lr(config, epoch / config.epochs))  # never time
            loss = train_epoch(model, epoch_loader(config, epoch, dataset, transform, device),
                               optimizer, loss_fn, device, config.amp,
                               f"epoch {epoch + 1}/{config.epochs}")
            scores = self.validate(model, data, device)
            last_epoch_s = time.monotonic() - started
            row = self.record_epoch(state, epoch, lr, loss, scores, last_epoch_s)
            save_epoch(out, self.checkpoint_content(data.normalisation, network, optimizer, state),
                       row, writer, self.save_checkpoint, self.log_fields, self.scalars)
            self.print_epoch(row, last_epoch_s)
        if writer:
            writer.close()

    def record_epoch(self, state: dict, epoch: int, lr: float, loss: float, scores,
                     epoch_s: float) -> dict:
        """Add a finished epoch to the state; returns its log row ("best": 1 if it improved)."""
        columns = self.validation_columns(scores)
        improved = self.improved(state, columns)
        state["epoch"], state["elapsed_s"] = epoch + 1, state["elapsed_s"] + epoch_s
        if improved:
            state[self.best_key], state["best_epoch"] = columns[self.score_column], epoch + 1
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss, **columns,
               "epoch_s": round(epoch_s, 2), "elapsed_s": round(state["elapsed_s"], 2),
               "best": int(improved)}
        state["history"] = state["history"] + [row]
        return row

    def stop_for_time_budget(self, state: dict, epoch: int) -> None:
        """Mark the run as stopped by --max-minutes before ``epoch``."""
        # a safety stop only: the schedule never depends on time, so the epochs that did run are
        # exactly those of a run without a budget
        state["stopped_by"] = f"--max-minutes {self.config.max_minutes:g}"
        print(f"time budget of {self.config.max_minutes} min reached after epoch {epoch}: "
              f"{stop_note(epoch, self.config.epochs, state['stopped_by'])}")
