"""Latent diffusion on a Gamma-VAE: trained on the images' posterior means, sampled and decoded to
the step-3 layout at the image size, refused with a missing or different autoencoder."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from semantic_diffusion_model.autoencoder.checkpoint import load_autoencoder, weights_digest
from semantic_diffusion_model.config import TrainConfig
from semantic_diffusion_model.sample import main as sample_main
from semantic_diffusion_model.space.latent import LatentSpace
from semantic_diffusion_model.train import main as train_main
from semantic_diffusion_model.train_autoencoder import main as autoencoder_main
from semantic_diffusion_model.training.checkpoint import load_checkpoint
from semantic_diffusion_model.training.data import PairData
from semantic_diffusion_model.training.distributed import DistContext
from semantic_diffusion_model.training.trainer import Trainer

from .conftest import expect_user_error

AUTOENCODER = ["--image-size", "64", "--channels", "8", "16", "--norm-groups", "8",
               "--num-res-blocks", "1", "--batch-size", "4", "--num-workers", "1", "--epochs", "1",
               "--views", "2CH_ED"]
NETWORK = ["--model-channels", "16", "--channel-mult", "1", "2", "--num-res-blocks", "1",
           "--attention-resolutions", "16", "--num-head-channels", "8", "--norm-groups", "8",
           "--spade-hidden", "8", "--batch-size", "4", "--no-tensorboard", "--num-workers", "1",
           "--views", "2CH_ED", "--lr", "1e-3"]


def train_autoencoder(data: Path, out: Path, seed: int = 0) -> Path:
    autoencoder_main(["--data-dir", str(data), "--out-dir", str(out), *AUTOENCODER,
                      "--seed", str(seed)])
    return out / "autoencoder.pt"


@pytest.fixture(scope="module")
def autoencoder(small_labels, tmp_path_factory) -> Path:
    """A tiny Gamma-VAE, 64 px images, 32 px latents, after one epoch on real 2CH_ED frames."""
    return train_autoencoder(small_labels, tmp_path_factory.mktemp("vae"))


@pytest.fixture(scope="module")
def latent_run(small_labels, autoencoder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("latent_edm")
    # --image-size given: it agrees with the autoencoder's (left out, it becomes it: test_rflow)
    train_main(["--data-dir", str(small_labels), "--out-dir", str(out), "--formulation", "edm",
                "--autoencoder", str(autoencoder), "--image-size", "64", *NETWORK, "--max-steps", "2",
                "--lr-anneal-steps", "2", "--label-dropout", "0.2"])
    return out


def test_the_model_learns_the_posterior_means_of_the_images(small_labels, autoencoder):
    vae = load_autoencoder(str(autoencoder))
    space = LatentSpace.load(str(autoencoder))
    assert (space.image_size, space.network_size) == (64, 32)
    data = PairData.load(str(small_labels), ("2CH_ED",), "training", 5, space.image_size)
    latents = space.training_data(data, sigma_data=0.5)
    with torch.no_grad():
        x = data.images.float()[:, None] / 255
        means = vae.latent_mean(x)
        mirrored = vae.latent_mean(x.flip(-1))
    assert latents.maps.shape[-1] == 32 and latents.latents.shape == (len(data), 1, 32, 32)
    torch.testing.assert_close(latents.latents * latents.scale + latents.shift, means)
    torch.testing.assert_close(latents.flipped * latents.scale + latents.shift, mirrored)
    # standardised over every latent pixel (sector and outside) to EDM's sigma_data, as pixels are
    assert latents.latents.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert latents.latents.std().item() == pytest.approx(0.5, rel=0.05)
    assert latents.data_std == pytest.approx(0.5, rel=0.05)
    assert latents.standardisation["latent_standardisation"] == "all pixels, std sigma_data"
    # every training batch is made of those means (a model trained on draws from the prior
    # Gamma(3.75, 10.8), as in the follow-up's released code, would see other numbers)
    config = TrainConfig(data_dir=str(small_labels), out_dir="unused", image_size=64,
                         formulation="edm", model_channels=16, channel_mult=(1, 2),
                         num_res_blocks=1, attention_resolutions=(16,), num_head_channels=8,
                         norm_groups=8, spade_hidden=8, batch_size=4)
    trainer = Trainer(config, DistContext(0, 1, 0, torch.device("cpu")), latents, None, space)
    assert (trainer.model_config.image_size, trainer.model_config.in_channels) == (32, 1)
    for step in range(3):
        x0, _ = trainer.batch(step)
        matches = [any(torch.equal(row, candidate) for candidate in (*latents.latents, *latents.flipped))
                   for row in x0]
        assert all(matches), step


def test_latent_checkpoint_records_its_autoencoder(latent_run, autoencoder):
    state = load_checkpoint(str(latent_run / "checkpoint_0000002.pt"))
    recorded = state["autoencoder"]
    assert recorded["digest"] == weights_digest(load_autoencoder(str(autoencoder)))
    assert recorded["path"] == str(autoencoder.resolve())
    assert (recorded["image_size"], recorded["latent_size"]) == (64, 32)
    assert recorded["latent_scale"] > 0 and state["model_config"]["image_size"] == 32
    assert recorded["latent_standardisation"] == "all pixels, std sigma_data"
    written = json.loads((latent_run / "config.json").read_text())
    # the image size and the side the network works at, each under its own name
    assert (written["image_size"], written["network_size"]) == (64, 32)
    # the training latents' std, measured, beside the sigma_data the preconditioning assumes
    assert written["data_std"] == pytest.approx(written["sigma_data"], rel=0.05)


def test_latent_sampling_writes_step_3_at_the_image_size(latent_run, small_labels, tmp_path):
    from echo_from_noise.files import read_png

    out = tmp_path / "samples"
    sample_main(["--checkpoint", str(latent_run / "checkpoint_0000002.pt"), "--maps-dir",
                 str(small_labels), "--views", "2CH_ED", "--out-dir", str(out), "--sampler",
                 "heun", "--steps", "2", "--num-samples", "2", "--guidance-scale", "2"])
    view = out / "2CH_ED"
    names = sorted(p.name for p in (view / "samples").iterdir())
    assert len(names) == 2
    for folder in ("samples", "labels", "labels_visible", "combined"):
        assert sorted(p.name for p in (view / folder).iterdir()) == names
    image = read_png(view / "samples" / names[0])
    assert image.shape == (64, 64) and image.std() > 0
    assert read_png(view / "labels" / names[0]).shape == (64, 64)
    generation = json.loads((view / "sample_config.json").read_text())["generation"]
    assert generation["image_size"] == 64 and generation["clip_denoised"] is False
    assert len(generation["autoencoder"]) == 16


def test_a_missing_or_different_autoencoder_is_a_one_line_error(latent_run, autoencoder,
                                                                  small_labels, tmp_path, capsys):
    checkpoint = tmp_path / "latent.pt"
    state = load_checkpoint(str(latent_run / "checkpoint_0000002.pt"))
    state["autoencoder"]["path"] = str(tmp_path / "moved" / "autoencoder.pt")
    torch.save(state, checkpoint)
    out = tmp_path / "samples"
    common = ["--checkpoint", str(checkpoint), "--maps-dir", str(small_labels), "--out-dir", str(out)]
    expect_user_error(sample_main, common, capsys, str(checkpoint), "is missing", "--autoencoder")
    other = train_autoencoder(small_labels, tmp_path / "other_vae", seed=1)
    expect_user_error(sample_main, [*common, "--autoencoder", str(other)], capsys, str(checkpoint),
                      "is not the one it was trained with")
    assert not out.exists()
    # the same command with the autoencoder's new place works
    (tmp_path / "moved").mkdir()
    shutil.copy(autoencoder, tmp_path / "moved" / "autoencoder.pt")
    sample_main([*common, "--views", "2CH_ED", "--num-samples", "1", "--sampler", "euler",
                 "--steps", "2"])
    assert len(list((out / "2CH_ED" / "samples").iterdir())) == 1
    # continuing a latent run on another autoencoder's latents is refused before anything changes
    run = tmp_path / "run"
    shutil.copytree(latent_run, run)
    before = sorted(p.name for p in run.iterdir())
    expect_user_error(train_main, ["--data-dir", str(small_labels), "--out-dir", str(run),
                                   "--formulation", "edm", "--autoencoder", str(other), *NETWORK,
                                   "--max-steps", "3", "--lr-anneal-steps", "2",
                                   "--label-dropout", "0.2"],
                      capsys, "latents of another autoencoder")
    assert sorted(p.name for p in run.iterdir()) == before


def test_an_image_size_other_than_the_autoencoders_is_refused(small_labels, autoencoder, tmp_path,
                                                             capsys):
    out = tmp_path / "run"
    expect_user_error(train_main, ["--data-dir", str(small_labels), "--out-dir", str(out),
                                   "--formulation", "edm", "--autoencoder", str(autoencoder),
                                   "--image-size", "32", *NETWORK, "--max-steps", "1"],
                      capsys, "--image-size 32", "image size 64", str(autoencoder))
    assert not out.exists()


def test_checkpoints_of_the_older_standardisation_keep_theirs(latent_run, small_labels, autoencoder,
                                                              tmp_path):
    # before the latents were standardised to sigma_data over all pixels, a checkpoint stored the
    # shift and scale of the sector pixels (std 1): sampling and continuing it keep those numbers
    state = torch.load(latent_run / "checkpoint_0000002.pt", weights_only=True)
    state["autoencoder"] |= {"latent_shift": 0.3, "latent_scale": 1.7}
    del state["autoencoder"]["latent_standardisation"]
    old = tmp_path / "old"
    old.mkdir()
    torch.save(state, old / "checkpoint_0000002.pt")
    space = LatentSpace.of_checkpoint(state, str(old / "checkpoint_0000002.pt"))
    assert (space.shift, space.scale) == (0.3, 1.7)
    train_main(["--data-dir", str(small_labels), "--out-dir", str(old), "--formulation", "edm",
                "--autoencoder", str(autoencoder), *NETWORK, "--max-steps", "3",
                "--lr-anneal-steps", "3", "--label-dropout", "0.2"])
    resumed = load_checkpoint(str(old / "checkpoint_0000003.pt"))["autoencoder"]
    assert (resumed["latent_shift"], resumed["latent_scale"]) == (0.3, 1.7)
    assert resumed["latent_standardisation"] == "sector, std 1"
