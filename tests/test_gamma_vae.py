"""The Gamma-VAE (semantic_diffusion_model.autoencoder) and its training program on real data."""
from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from torch.distributions import Gamma, kl_divergence

from echo_from_noise.cli import config_to_dict, run_program
from semantic_diffusion_model.autoencoder.checkpoint import (list_checkpoints, load_autoencoder,
                                                             read_checkpoint, weights_digest)
from semantic_diffusion_model.autoencoder.config import AutoencoderConfig
from semantic_diffusion_model.autoencoder.gamma import PRIOR_ALPHA, PRIOR_BETA, gamma_kl
from semantic_diffusion_model.autoencoder.loss import GammaVAELoss, PerceptualFeatures
from semantic_diffusion_model.autoencoder.network import GammaVAE
from semantic_diffusion_model.train_autoencoder import main

from .conftest import expect_user_error
from .resumed_training import GAMMA_VAE, assert_nothing_left_to_do, kill_and_resume

TINY = dict(image_size=64, channels=(8, 16), norm_groups=8, num_res_blocks=1)
TINY_ARGS = ["--image-size", "64", "--channels", "8", "16", "--norm-groups", "8",
             "--num-res-blocks", "1", "--batch-size", "4", "--num-workers", "1"]


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--data-dir", str(data), "--out-dir", str(out), *TINY_ARGS, *extra]


def test_gamma_kl_is_the_closed_form_and_torchs():
    gen = torch.Generator().manual_seed(0)
    a1, b1, a2, b2 = (torch.rand(1000, generator=gen, dtype=torch.float64) * 10 + 0.05 for _ in range(4))
    closed = ((a1 - a2) * torch.digamma(a1) - torch.lgamma(a1) + torch.lgamma(a2)
              + a2 * (b1.log() - b2.log()) + a1 * (b2 - b1) / b1)
    ours = gamma_kl(a1, b1, a2, b2)
    torch.testing.assert_close(ours, closed)
    torch.testing.assert_close(ours, kl_divergence(Gamma(a1, b1), Gamma(a2, b2)))
    assert (ours >= -1e-9).all()
    # zero at the prior itself, positive elsewhere (KL(posterior || prior), not the reverse)
    prior = gamma_kl(torch.tensor([PRIOR_ALPHA]), torch.tensor([PRIOR_BETA]), PRIOR_ALPHA, PRIOR_BETA)
    assert prior.abs().item() < 1e-5
    q = (torch.tensor([2.0]), torch.tensor([3.0]))
    assert gamma_kl(*q, PRIOR_ALPHA, PRIOR_BETA) != pytest.approx(
        gamma_kl(torch.tensor([PRIOR_ALPHA]), torch.tensor([PRIOR_BETA]), *q), rel=1e-3)


def fake_output(config: AutoencoderConfig, batch: int, seed: int = 0) -> dict:
    side, gen = config.latent_size, torch.Generator().manual_seed(seed)
    alpha = torch.rand(batch, 1, side, side, generator=gen) * 5 + 0.5
    beta = torch.rand(batch, 1, side, side, generator=gen) * 10 + 0.5
    recon = torch.rand(batch, 1, config.image_size, config.image_size, generator=gen)
    return {"alpha": alpha, "beta": beta, "z": alpha / beta, "recon": recon}


def test_kl_term_counts_only_latent_pixels_inside_the_sector():
    config = AutoencoderConfig(**{**TINY, "image_size": 16})  # latent 8 x 8, factor 2
    image = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    sector = torch.zeros(2, 16, 16, dtype=torch.bool)
    sector[:, 4:12, 2:9] = True
    sector[:, 15, 15] = True  # one pixel of a block puts the whole latent pixel (7, 7) inside
    inside = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    inside[:, :, 2:6, 1:5] = True
    inside[:, :, 7, 7] = True
    loss = GammaVAELoss(config)
    out = fake_output(config, 2)
    base = loss(image, sector, out)
    expected = gamma_kl(out["alpha"], out["beta"], PRIOR_ALPHA, PRIOR_BETA)[inside].mean()
    torch.testing.assert_close(base["kl"], expected)
    outside = {**out, "alpha": torch.where(inside, out["alpha"], out["alpha"] * 3),
               "beta": torch.where(inside, out["beta"], out["beta"] + 7)}
    assert loss(image, sector, outside)["kl"].item() == base["kl"].item()
    changed = {**out, "alpha": torch.where(inside, out["alpha"] * 3, out["alpha"])}
    assert abs(loss(image, sector, changed)["kl"].item() - base["kl"].item()) > 1e-3
    # the weighted sum of the published defaults
    torch.testing.assert_close(base["loss"], 10 * base["recon"] + 1e-3 * base["kl"] + 1e-2 * base["latent"])
    pooled = torch.nn.functional.avg_pool2d(image, 2)
    torch.testing.assert_close(base["latent"], ((out["alpha"] / out["beta"] - pooled) ** 2).mean())


@pytest.mark.parametrize("channels, side", [((8, 16), 32), ((8, 16, 24), 16)])
def test_latent_side_is_image_over_two_per_level(channels, side):
    config = AutoencoderConfig(**{**TINY, "channels": channels})
    assert config.latent_size == side and config.latent_factor == 64 // side
    torch.manual_seed(0)
    model = GammaVAE(config)
    x = torch.rand(2, 1, 64, 64)
    out = model(x, generator=torch.Generator().manual_seed(3))
    assert out["alpha"].shape == out["beta"].shape == out["z"].shape == (2, 1, side, side)
    assert out["recon"].shape == (2, 1, 64, 64)
    assert (out["alpha"] > 0).all() and (out["beta"] > 0).all() and (out["z"] >= 0).all()
    assert model.decode(model.latent_mean(x)).shape == (2, 1, 64, 64)


def test_published_depths():
    assert AutoencoderConfig().latent_size == 64  # (64, 128, 192) at 256 px: L64
    assert AutoencoderConfig(channels=(64, 128)).latent_size == 128  # L128


def test_latent_draw_is_reproducible_and_reparameterised():
    torch.manual_seed(0)
    model = GammaVAE(AutoencoderConfig(**TINY))
    x = torch.rand(2, 1, 64, 64)
    before = torch.get_rng_state()
    a = model(x, generator=torch.Generator().manual_seed(5))
    b = model(x, generator=torch.Generator().manual_seed(5))
    c = model(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is untouched
    assert torch.equal(a["z"], b["z"]) and not torch.equal(a["z"], c["z"])
    a["recon"].square().mean().backward()  # the reconstruction alone reaches the encoder
    assert model.encoder.blocks[0].conv.weight.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def reference_run(small_labels, tmp_path_factory) -> Path:
    """3 uninterrupted epochs on the real training images of all four views, every checkpoint."""
    out = tmp_path_factory.mktemp("gamma_vae_reference")
    main(train_args(small_labels, out, "--epochs", "3", "--keep-checkpoints", "0"))
    return out


def test_run_writes_checkpoints_metrics_figure_and_evaluation(reference_run, small_labels):
    assert [epoch for epoch, _ in list_checkpoints(str(reference_run))] == [1, 2, 3]
    config = json.loads((reference_run / "config.json").read_text())
    assert config["training_images"] == 16 and config["latent_size"] == 32
    assert config["steps_per_epoch"] == 4
    rows = list(csv.DictReader((reference_run / "progress.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for row in rows:
        for name in ("loss", "recon", "kl", "latent", "val_psnr", "val_ssim"):
            assert math.isfinite(float(row[name])), (name, row)
        assert 0 < float(row["val_ssim"]) <= 1 and float(row["val_psnr"]) > 5
    assert float(rows[-1]["recon"]) < float(rows[0]["recon"])
    evaluation = json.loads((reference_run / "evaluation.json").read_text())
    assert evaluation["validation"]["images"] == 8 and evaluation["testing"]["images"] == 8
    assert all(math.isfinite(evaluation[s][m]) for s in ("validation", "testing") for m in ("psnr", "ssim"))
    assert evaluation["validation"]["psnr"] == pytest.approx(float(rows[-1]["val_psnr"]))
    assert (reference_run / "reconstructions.png").read_bytes().startswith(b"\x89PNG")
    # the stable copy is the last epoch's, and rebuilds the network alone
    model = load_autoencoder(str(reference_run / "autoencoder.pt"))
    assert not model.training and model.config.latent_size == 32 and model.config.channels == (8, 16)
    last = read_checkpoint(str(reference_run / "autoencoder_0003.pt"))
    assert last["step"] == 12  # 3 epochs of 4 steps
    assert all(torch.equal(v, last["model"][k]) for k, v in model.state_dict().items())
    assert weights_digest(model) == evaluation["weights_digest"] == last["weights_digest"]
    assert not list(reference_run.glob(".*.tmp"))
    # the same command again has nothing left to do
    assert_nothing_left_to_do(lambda: main(train_args(small_labels, reference_run, "--epochs", "3",
                                                      "--keep-checkpoints", "0")), reference_run)


@pytest.mark.slow
def test_killed_run_resumes_exactly(reference_run, small_labels, tmp_path):
    out = tmp_path / "killed"
    # killed before epoch 3's checkpoint, so before the evaluation that follows it
    # (rng: every entry compared, the global generators are seeded)
    kill_and_resume(GAMMA_VAE, train_args(small_labels, out, "--epochs", "3", "--keep-checkpoints", "2"),
                    out, kill_at=1, kept=[2, 3], reference=reference_run)  # --keep-checkpoints 2
    assert len(list(csv.DictReader((out / "progress.csv").open()))) == 3
    assert (out / "evaluation.json").is_file()


def test_checkpoint_of_another_configuration_is_refused(reference_run, small_labels, tmp_path, capsys):
    out = tmp_path / "other"
    shutil.copytree(reference_run, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    expect_user_error(main, train_args(small_labels, out, "--epochs", "4", "--lr", "0.001",
                                       "--kl-weight", "0.01"), capsys, "autoencoder_0003.pt",
                      "another configuration (kl_weight 0.001 != 0.01, lr 0.0001 != 0.001)")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def tiny_segmentation_checkpoint(path: Path) -> Path:
    from echo_segmentation.config import TrainConfig, resolve_preset
    from echo_segmentation.model import build_network, save_checkpoint

    config = resolve_preset(TrainConfig(data_dir="unused", out_dir="unused", channels=(4, 8, 16),
                                        strides=(2, 2), image_size=64))
    torch.manual_seed(0)
    save_checkpoint(path, config=config_to_dict(config), normalisation={"mean": 0.2, "std": 0.25},
                    model=build_network(config).state_dict())
    return path


def test_perceptual_term_through_a_segmentation_network(small_labels, tmp_path):
    path = tiny_segmentation_checkpoint(tmp_path / "best.pt")
    features = PerceptualFeatures(str(path))
    assert len(features.blocks) == 3 and not any(p.requires_grad for p in features.parameters())
    x = torch.rand(2, 1, 64, 64)
    recon = (x + 0.1 * torch.randn(2, 1, 64, 64)).requires_grad_(True)
    assert features(x, x).item() == 0.0
    value = features(recon, x)
    value.backward()
    assert value.item() > 0 and recon.grad.abs().sum() > 0
    out = tmp_path / "run"
    main(train_args(small_labels, out, "--epochs", "1", "--views", "2CH_ED",
                    "--perceptual-network", str(path)))
    row = next(csv.DictReader((out / "progress.csv").open()))
    assert float(row["perceptual"]) > 0
    assert float(row["loss"]) == pytest.approx(10 * float(row["recon"]) + 1e-3 * float(row["kl"])
                                               + 1e-2 * float(row["latent"]) + 1e-3 * float(row["perceptual"]), rel=1e-4)


def test_missing_data_dir_is_one_line_and_creates_nothing(tmp_path, capsys):
    missing, out = tmp_path / "no_labels", tmp_path / "out"
    expect_user_error(main, train_args(missing, out), capsys, str(missing))
    assert not out.exists()


def test_missing_perceptual_network_is_refused_before_anything(small_labels, tmp_path, capsys):
    missing, out = tmp_path / "best.pt", tmp_path / "out"
    expect_user_error(main, train_args(small_labels, out, "--perceptual-network", str(missing)),
                      capsys, str(missing), "not found")
    assert not out.exists()


def test_bad_options_are_refused(small_labels, tmp_path, capsys):
    out = tmp_path / "out"
    expect_user_error(main, train_args(small_labels, out, "--epochs", "1", "--channels", "8", "12"),
                      capsys, "multiple of --norm-groups 8")
    expect_user_error(main, train_args(small_labels, out, "--epochs", "1", "--channels", "8", "16", "24",
                                       "--image-size", "62"), capsys, "--image-size 62 must be divisible by 4")
    assert not out.exists()


@pytest.mark.parametrize("content", [b"not a checkpoint", "other", "missing"])
def test_unreadable_autoencoder_checkpoint_is_one_line(content, tmp_path, capsys):
    path = tmp_path / "autoencoder.pt"
    if content == "other":
        torch.save({"format": "echo-from-noise/sdm-checkpoint"}, path)
    elif content != "missing":
        path.write_bytes(content)
    line = expect_user_error(lambda argv: run_program(lambda: load_autoencoder(argv[0])),
                             [str(path)], capsys, str(path))
    assert {"other": "not a Gamma-VAE checkpoint", "missing": "not found"}.get(content, "not a readable") in line


def test_help_documents_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for option in ("--channels", "--prior-alpha", "--prior-beta", "--recon-weight", "--kl-weight",
                   "--latent-weight", "--perceptual-weight", "--perceptual-network", "--epochs",
                   "--views", "--save-interval", "--eval-interval", "--precision", "--dist-host"):
        assert option in text
