"""The training program on real data (small_labels): learning, exact resume, checkpoints, refusals
(bad input and failures: test_sdm_train_errors.py)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_from_noise.files import write_png
from semantic_diffusion_model.training.checkpoint import list_checkpoints, load_checkpoint, load_model
from semantic_diffusion_model.config import TrainConfig
from semantic_diffusion_model.training.data import PairData, batch_indices, one_hot, read_map, to_model_range
from semantic_diffusion_model.diffusion.ddpm import GaussianDiffusion, create_diffusion
from semantic_diffusion_model.training.distributed import DistContext
from semantic_diffusion_model.train import Trainer, main
from semantic_diffusion_model.network.unet import SPADEUNet
from semantic_diffusion_model.space.pixel import PixelSpace

from .conftest import REPO
from .resumed_training import (DIFFUSION, assert_nothing_left_to_do, assert_same_last_checkpoint,
                               kill_and_resume)

TINY = ["--image-size", "32", "--model-channels", "32", "--channel-mult", "1", "2",
        "--num-res-blocks", "1", "--attention-resolutions", "16", "--num-head-channels", "16"]


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--data-dir", str(data), "--out-dir", str(out), *TINY, "--batch-size", "4",
            "--lr-anneal-steps", "6", "--log-interval", "1", "--no-tensorboard", *extra]


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    """Run the program in this process -> (exit status, its one 'error:' line of stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    # progress bars share stderr; the error itself must be exactly one line
    errors = [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if line.startswith("error")]
    assert len(errors) <= 1, errors
    return code, errors[0] if errors else ""


@pytest.fixture(scope="module")
def reference_run(small_labels, tmp_path_factory) -> Path:
    """6 uninterrupted steps on the real 2CH_ED training maps, a checkpoint every 3 steps."""
    out = tmp_path_factory.mktemp("sdm_reference")
    main(train_args(small_labels, out, "--save-interval", "3"))
    return out


def test_run_writes_checkpoints_config_and_progress(reference_run):
    assert [step for step, _ in list_checkpoints(str(reference_run))] == [3, 6]
    state = load_checkpoint(str(reference_run / "checkpoint_0000006.pt"))
    assert state["config"]["views"] == ["2CH_ED"] and state["model_config"]["image_size"] == 32
    assert state["label_dropout"] == 0.0
    assert (reference_run / "config.json").is_file()
    rows = (reference_run / "progress.csv").read_text().splitlines()
    assert rows[0].split(",") == ["step", "loss", "mse", "vb", "loss_q0", "loss_q1", "loss_q2",
                                  "loss_q3", "lr", "grad_norm", "images_per_s", "skipped_steps"]
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4, 5, 6]
    # the learning rate falls linearly to 0 over --lr-anneal-steps
    assert [float(r.split(",")[8]) for r in rows[1:]] == pytest.approx([1e-4 * (1 - s / 6) for s in range(6)])
    # sampling rebuilds the network from the checkpoint alone, EMA weights by default
    model, diffusion_config, model_config = load_model(str(reference_run / "checkpoint_0000006.pt"))
    assert model_config.channel_mult == (1, 2) and diffusion_config.noise_schedule == "cosine"
    assert all(torch.equal(p, state["ema"][n]) for n, p in model.state_dict().items())
    assert not all(torch.equal(p, state["model"][n]) for n, p in model.state_dict().items())


@pytest.mark.slow  # trains networks for several seconds: not in the quick tier
def test_interrupted_and_resumed_run_ends_identical(reference_run, small_labels, tmp_path):
    out = tmp_path / "run"
    main(train_args(small_labels, out, "--save-interval", "3", "--max-steps", "3"))
    assert [s for s, _ in list_checkpoints(str(out))] == [3]
    main(train_args(small_labels, out, "--save-interval", "3"))  # --resume auto continues from step 3
    assert_same_last_checkpoint(DIFFUSION, reference_run, out)
    assert_nothing_left_to_do(lambda: main(train_args(small_labels, out, "--save-interval", "3")), out)


@pytest.mark.slow
def test_killed_run_resumes_exactly(reference_run, small_labels, tmp_path):
    out = tmp_path / "killed"
    kill_and_resume(DIFFUSION, train_args(small_labels, out, "--save-interval", "1", "--keep-checkpoints", "2"),
                    out, kill_at=2, kept=[5, 6], reference=reference_run)  # --keep-checkpoints 2


@pytest.mark.slow
def test_training_reduces_the_loss_on_real_maps(small_labels, tmp_path):
    out = tmp_path / "overfit"
    main(train_args(small_labels, out, "--lr", "1e-3", "--lr-anneal-steps", "100000",
                    "--max-steps", "20", "--save-interval", "20", "--no-random-flip"))
    data = PairData.load(str(small_labels), ("2CH_ED",), "training", 5, 32)
    x0, y = to_model_range(data.images).repeat(4, 1, 1, 1), one_hot(data.maps, 5).repeat(4, 1, 1, 1)
    t = torch.linspace(0, 999, len(x0)).long()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))

    def mse(model) -> float:
        with torch.no_grad():
            return create_diffusion(diffusion_config, True).training_losses(
                model, x0, t, y, noise)["mse"].mean().item()

    trained, diffusion_config, model_config = load_model(str(out / "checkpoint_0000020.pt"), use_ema=False)
    torch.manual_seed(0)
    initial = SPADEUNet(model_config).eval()
    before, after = mse(initial), mse(trained)
    assert after < 0.6 * before, (before, after)


@pytest.mark.slow  # trains networks for several seconds: not in the quick tier
def test_microbatches_give_the_same_step(small_labels, tmp_path):
    main(train_args(small_labels, tmp_path / "whole", "--max-steps", "1"))
    main(train_args(small_labels, tmp_path / "micro", "--max-steps", "1", "--microbatch", "2"))
    a = load_checkpoint(str(tmp_path / "whole" / "checkpoint_0000001.pt"))["model"]
    b = load_checkpoint(str(tmp_path / "micro" / "checkpoint_0000001.pt"))["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-7)


def test_batches_flip_map_and_image_together_and_drop_labels(small_labels):
    config = TrainConfig(data_dir=str(small_labels), out_dir="unused", image_size=32, model_channels=32,
                         channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(16,),
                         num_head_channels=16, batch_size=64, label_dropout=0.5, views=("2CH_ED", "4CH_ED"))
    data = PairData.load(config.data_dir, config.views, config.split, 5, 32)
    assert len(data) == 8
    trainer = Trainer(config, DistContext(), data, None, PixelSpace(config.image_size))
    x0, y = trainer.batch(0)
    index = batch_indices(len(data), 64, 0, 0, 0, 1)
    image = to_model_range(data.images[index])
    flipped = (x0 != image).flatten(1).any(1)
    assert 10 < flipped.sum() < 54  # about half
    torch.testing.assert_close(x0[flipped], image[flipped].flip(-1))
    dropped = y.sum((1, 2, 3)) == 0
    assert 10 < dropped.sum() < 54
    maps = one_hot(data.maps[index], 5)
    kept = ~dropped
    torch.testing.assert_close(y[kept], torch.where(flipped[kept, None, None, None], maps[kept].flip(-1), maps[kept]))


def test_batch_indices_shard_each_epoch_across_ranks():
    n, batch, world = 10, 3, 2
    seen = np.concatenate([batch_indices(n, batch, 7, step, rank, world)
                           for step in range(5) for rank in range(world)])  # 30 = 3 epochs
    for epoch in range(3):
        assert sorted(seen[epoch * n:(epoch + 1) * n]) == list(range(n))
    assert not np.array_equal(seen[:n], seen[n:2 * n])


def test_maps_are_resized_at_pixel_centres(tmp_path):
    """Halving a map keeps the centre pixel of each 2x2 block, not its top-left (INTER_NEAREST)."""
    labels = ((np.arange(64)[:, None] + 2 * np.arange(64)[None, :]) % 5).astype(np.uint8)
    write_png(tmp_path / "map.png", labels)
    assert np.array_equal(read_map(str(tmp_path / "map.png"), 5, 32), labels[1::2, 1::2])


def poison_losses(monkeypatch, bad_calls) -> None:
    """Make the hybrid loss non-finite on the given (0-based) calls."""
    original = GaussianDiffusion.training_losses
    calls = []

    def patched(self, *args, **kwargs):
        terms = original(self, *args, **kwargs)
        if bad_calls == "all" or len(calls) in bad_calls:
            terms["loss"] = terms["loss"] * float("nan")
        calls.append(1)
        return terms

    monkeypatch.setattr(GaussianDiffusion, "training_losses", patched)


@pytest.mark.slow  # trains networks for several seconds: not in the quick tier
def test_a_nonfinite_step_is_skipped(small_labels, tmp_path, monkeypatch):
    poison_losses(monkeypatch, {1})
    out = tmp_path / "skip"
    main(train_args(small_labels, out, "--max-steps", "3"))
    rows = (out / "progress.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[-1]) for r in rows] == [0, 1, 0]
    state = load_checkpoint(str(out / "checkpoint_0000003.pt"))
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert int(state["optimizer"]["state"][0]["step"]) == 2  # two real optimiser steps


def test_nonfinite_steps_stop_training_with_a_clear_error(small_labels, tmp_path, monkeypatch, capsys):
    poison_losses(monkeypatch, "all")
    code, err = run_main(train_args(small_labels, tmp_path / "diverged", "--max-nonfinite-steps", "2"),
                         capsys)
    assert code == 2 and err.startswith("error: training diverged: 2 consecutive steps"), err
    assert not list_checkpoints(str(tmp_path / "diverged"))


def test_checkpoint_of_another_configuration_is_refused(reference_run, small_labels, tmp_path, capsys):
    out = tmp_path / "other"
    shutil.copytree(reference_run, out)
    before = {p.name: p.read_bytes() for p in out.glob("checkpoint_*.pt")}
    code, err = run_main(train_args(small_labels, out, "--model-channels", "64",
                                    "--max-steps", "8"), capsys)
    assert code == 2 and "checkpoint was made for another configuration (model_channels 32 != 64)" in err
    assert {p.name: p.read_bytes() for p in out.glob("checkpoint_*.pt")} == before


def test_fresh_start_refuses_a_folder_with_checkpoints(reference_run, small_labels, capsys):
    code, err = run_main(train_args(small_labels, reference_run, "--resume", "none"), capsys)
    assert code == 2 and "holds checkpoints already" in err


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for option in ("--data-dir", "--views", "--batch-size", "--microbatch", "--lr-anneal-steps",
                   "--max-steps", "--ema-rate", "--label-dropout", "--precision", "--grad-checkpoint",
                   "--compile", "--channels-last", "--keep-checkpoints", "--resume", "--dist-host",
                   "--channel-mult", "--vb-weight", "--noise-schedule"):
        assert option in text


def test_training_benchmark_reports_its_numbers(tmp_path):
    import runpy  # the benchmark is a program of scripts/, not a module of a package
    benchmark_main = runpy.run_path(str(REPO / "scripts" / "benchmark_training.py"))["main"]

    out = tmp_path / "bench.json"
    benchmark_main([*TINY, "--batch-size", "2", "--warmup", "1", "--steps", "1", "--json-out", str(out)])
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["precision"] == "float32"
    assert result["images_per_s"] > 0 and result["peak_memory_GiB"] > 0
    assert result["parameters_M"] == pytest.approx(3.12, abs=0.01)


def test_version_1_checkpoints_keep_their_loss(reference_run, small_labels, tmp_path, capsys):
    # version 1 multiplied vb_weight by T: its 0.001 was a weight of 1 on L_t, kept on loading
    state = torch.load(reference_run / "checkpoint_0000006.pt", weights_only=True)
    state["version"] = 1
    del state["diffusion_config"]["formulation"]  # version 1 knew only the DDPM process
    old = tmp_path / "old" / "checkpoint_0000006.pt"
    old.parent.mkdir()
    torch.save(state, old)
    loaded = load_checkpoint(str(old))
    assert loaded["diffusion_config"]["vb_weight"] == pytest.approx(1.0)
    assert load_model(str(old))[1].formulation == "ddpm"
    # continuing it with today's default weight would change its loss: refused, naming the weight
    code, error = run_main(train_args(small_labels, old.parent, "--lr-anneal-steps", "8"), capsys)
    assert code == 2 and "vb_weight 1.0 != 0.001" in error


# --- EMA warm-up ---------------------------------------------------------------------------------

def share_of_initial_weights(steps: int, rate: float, warmup: bool) -> float:
    """The weight the EMA still gives the initial network after ``steps`` updates: the model starts
    at 1 and is 0 from the first step on, so the average is that share itself."""
    from semantic_diffusion_model.training.ema import EMA

    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.ones_(model.weight)
    ema = EMA(model, rate, warmup)
    torch.nn.init.zeros_(model.weight)
    for step in range(steps):
        ema.update(model, step)
    return ema.model.weight.item()


def test_ema_warm_up_forgets_the_initial_weights():
    # without warm-up the published rate keeps 0.9999^20000 = 13.5 % of the random initial weights
    # after the `fast` preset's 20 000 steps, and 96 % after 400
    assert share_of_initial_weights(20000, 0.9999, False) == pytest.approx(0.9999**20000, rel=1e-3)
    assert share_of_initial_weights(400, 0.9999, False) == pytest.approx(0.9608, abs=1e-3)
    for steps in (400, 20000):
        assert share_of_initial_weights(steps, 0.9999, True) < 1e-12
    assert share_of_initial_weights(400, 0.95, True) < 1e-12  # the smoke preset's rate


def test_ema_rate_ramps_up_to_the_configured_rate():
    from semantic_diffusion_model.training.ema import ema_rate_at

    assert ema_rate_at(0, 0.9999, True) == pytest.approx(0.1)
    assert ema_rate_at(90, 0.9999, True) == pytest.approx(0.91)
    assert ema_rate_at(89990, 0.9999, True) == pytest.approx(0.9999)
    assert ema_rate_at(10**6, 0.9999, True) == 0.9999 == ema_rate_at(0, 0.9999, False)


def test_runs_begun_without_warm_up_continue_without_it(reference_run, small_labels, tmp_path):
    # a checkpoint written before the option existed: its continuation keeps the fixed rate
    state = torch.load(reference_run / "checkpoint_0000006.pt", weights_only=True)
    del state["config"]["ema_warmup"]
    old = tmp_path / "old"
    old.mkdir()
    torch.save(state, old / "checkpoint_0000006.pt")
    main(train_args(small_labels, old, "--lr-anneal-steps", "7"))
    assert json.loads((old / "config.json").read_text())["ema_warmup"] is False
    fresh = json.loads((reference_run / "config.json").read_text())
    assert fresh["ema_warmup"] is True
    # the pixel data's measured standard deviation is reported beside sigma_data
    assert 0.2 < fresh["data_std"] < 0.9 and fresh["sigma_data"] == 0.5


def test_constant_learning_rate_schedule():
    from types import SimpleNamespace

    linear = SimpleNamespace(config=TrainConfig(data_dir="d", out_dir="o", lr=1e-3, lr_anneal_steps=100))
    constant = SimpleNamespace(config=TrainConfig(data_dir="d", out_dir="o", lr=1e-3, lr_anneal_steps=100,
                                                  lr_schedule="constant"))
    assert Trainer.lr_at(linear, 75) == pytest.approx(2.5e-4)
    assert Trainer.lr_at(constant, 75) == Trainer.lr_at(constant, 0) == 1e-3
