"""Rectified flow (--formulation rflow): its closed forms, Euler and Heun on Gaussian data whose flow
is known, and the programs (training resumed exactly, sampling in 1 step, refusals)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semantic_diffusion_model.config import DiffusionConfig
from semantic_diffusion_model.formulations import formulation_of
from semantic_diffusion_model.formulations.rflow import TIME_SCALE, RectifiedFlow
from semantic_diffusion_model.samplers import PerSampleNoise, Sampler
from semantic_diffusion_model.samplers.process import FlowProcess, shift_time

from .conftest import expect_user_error


def rflow(**options) -> RectifiedFlow:
    return formulation_of(DiffusionConfig(formulation="rflow", **options))


def test_training_times_follow_the_chosen_distribution():
    gen = torch.Generator().manual_seed(0)
    t, u = rflow().draw(40000, gen, "cpu")
    logit = torch.log(t.double() / (1 - t.double()))
    assert logit.mean().item() == pytest.approx(0.0, abs=0.02)  # logit-normal(0, 1)
    assert logit.std().item() == pytest.approx(1.0, abs=0.02)
    t, _ = rflow(rflow_mean=0.5, rflow_std=0.6).draw(40000, gen, "cpu")
    logit = torch.log(t.double() / (1 - t.double()))
    assert logit.mean().item() == pytest.approx(0.5, abs=0.02)
    assert logit.std().item() == pytest.approx(0.6, abs=0.02)
    t, u = rflow(rflow_time="uniform").draw(40000, gen, "cpu")
    torch.testing.assert_close(t, u)  # uniform: t is its own quantile
    assert t.mean().item() == pytest.approx(0.5, abs=0.01)
    shifted, u3 = rflow(rflow_time="uniform", rflow_shift=3.0).draw(5, torch.Generator().manual_seed(1), "cpu")
    torch.testing.assert_close(shifted, 3 * u3 / (1 + 2 * u3))
    assert (shifted >= u3).all()  # a shift > 1 moves times towards the noise


def test_shift_maps_the_ends_to_themselves_and_one_is_the_identity():
    t = np.linspace(0, 1, 11)
    np.testing.assert_allclose(shift_time(t, 1.0), t)
    np.testing.assert_allclose(shift_time(t, 3.0)[[0, -1]], [0, 1])
    np.testing.assert_allclose(shift_time(0.5, 3.0), 0.75)


class Recording(torch.nn.Module):
    """F(x, c_noise, y) = 2 x + c_noise / 1000, remembering its inputs."""

    def forward(self, x, c_noise, y):
        self.inputs = (x.clone(), c_noise.clone())
        return 2 * x + c_noise.reshape(-1, 1, 1, 1) / TIME_SCALE


def test_the_loss_regresses_the_velocity_of_the_straight_path():
    formulation, net = rflow(), Recording()
    network = formulation.network(net)
    x0, noise = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    t = torch.tensor([0.1, 0.5, 0.9])
    terms = formulation.losses(network, x0, t, None, noise)
    x_t = (1 - t.reshape(-1, 1, 1, 1)) * x0 + t.reshape(-1, 1, 1, 1) * noise
    torch.testing.assert_close(net.inputs[0], x_t)
    torch.testing.assert_close(net.inputs[1], TIME_SCALE * t)  # the ddpm timesteps' scale
    velocity = 2 * x_t + t.reshape(-1, 1, 1, 1)
    loss = ((velocity - (noise - x0)) ** 2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(terms["loss"], loss)
    # the clean-image estimate x_t - t v has t^2 times the velocity's squared error
    x0_hat = x_t - t.reshape(-1, 1, 1, 1) * velocity
    torch.testing.assert_close(terms["mse"], ((x0_hat - x0) ** 2).mean(dim=(1, 2, 3)))
    # the exact velocity gives zero loss
    exact = lambda x, level, y: noise - x0  # noqa: E731
    assert formulation.losses(exact, x0, t, None, noise)["loss"].abs().max() < 1e-6


class GaussianVelocity:
    """The ideal v(x_t, t) for data x0 ~ N(mu, s^2) per pixel: v = (x_t - E[x0 | x_t]) / t."""

    def __init__(self, mu: float, s: float):
        self.mu, self.s, self.calls = mu, s, 0

    def __call__(self, x, t):
        self.calls += 1
        t = t.double().reshape(-1, 1, 1, 1)
        x = x.double()
        a = 1 - t
        mean_x0 = self.mu + a * self.s ** 2 * (x - a * self.mu) / (a ** 2 * self.s ** 2 + t ** 2)
        return ((x - mean_x0) / t.clamp_min(1e-12)).float()


def flow_error(sampler: str, steps: int, mu=0.3, s=0.5, **options) -> float:
    """RMS distance of the sampler's images from the exact flow map x1 -> mu + s x1."""
    noise = PerSampleNoise(list(range(64)), (1, 8, 8))
    exact = mu + s * PerSampleNoise(list(range(64)), (1, 8, 8))()  # the same first draw: x1
    velocity = GaussianVelocity(mu, s)
    run = Sampler(sampler, FlowProcess("rflow"), steps, clip_denoised=False, **options)
    images = run(velocity, noise)
    assert velocity.calls == run.nfe
    return float((images - exact).pow(2).mean().sqrt())


def test_one_euler_step_gives_the_mean_and_more_steps_the_exact_flow():
    assert flow_error("euler", 1) == pytest.approx(0.5, rel=0.05)  # E[x0] = mu: off by s x1
    errors = {n: flow_error("euler", n) for n in (8, 16, 32)}
    assert errors[32] < 0.03
    # first order: the error halves when the steps double
    assert errors[8] / errors[16] == pytest.approx(2, rel=0.15)
    assert errors[16] / errors[32] == pytest.approx(2, rel=0.15)


def test_heun_is_second_order_on_the_flow():
    exact_heun = dict(heun_euler_below=0.0, heun_max_ratio=0.0)  # every step but the last corrected
    errors = {n: flow_error("heun", n, **exact_heun) for n in (4, 8, 16)}
    assert errors[8] / errors[16] > 3.0  # ~4: second order (the last step to t = 0 is Euler's)
    assert errors[16] < flow_error("euler", 31)  # fewer evaluations, smaller error


def test_heun_counts_its_euler_steps():
    process = FlowProcess("rflow")
    # 4 uniform steps: t 1 -> .75 -> .5 -> .25 -> 0, sigma inf, 3, 1, 1/3, 0: the first step
    # divides sigma by more than 4 and the last ends at 0, so two steps are corrected
    assert Sampler("heun", process, 4).nfe == 6
    assert Sampler("heun", process, 4, heun_euler_below=0.0, heun_max_ratio=0.0).nfe == 7
    assert Sampler("heun", process, 1).nfe == 1


def test_samplers_and_options_that_do_not_fit_are_refused():
    process = rflow().process()
    assert process.samplers == ("heun", "euler")
    with pytest.raises(Exception, match="does not fit rflow"):
        Sampler("dpm-solver++", process, 4)
    with pytest.raises(Exception, match="--s-churn"):
        Sampler("heun", process, 4, s_churn=40.0)
    with pytest.raises(Exception, match="--rflow-std must be > 0"):
        DiffusionConfig(formulation="rflow", rflow_std=0.0).check()
    with pytest.raises(Exception, match="--rflow-shift must be > 0"):
        DiffusionConfig(formulation="rflow", rflow_shift=-1.0).check()


# --- the programs ----------------------------------------------------------------------------

NETWORK = ["--model-channels", "16", "--channel-mult", "1", "2", "--num-res-blocks", "1",
           "--attention-resolutions", "16", "--num-head-channels", "8", "--norm-groups", "8",
           "--spade-hidden", "8", "--batch-size", "4", "--no-tensorboard", "--num-workers", "1",
           "--views", "2CH_ED", "--lr", "1e-3", "--formulation", "rflow", "--rflow-shift", "2"]


def train(data, out, *extra):
    from semantic_diffusion_model.train import main as train_main

    train_main(["--data-dir", str(data), "--out-dir", str(out), *NETWORK, "--lr-anneal-steps", "4",
                "--save-interval", "2", *extra])


def sample(checkpoint, maps, out, *options) -> dict:
    import json

    from semantic_diffusion_model.sample import main as sample_main

    sample_main(["--checkpoint", str(checkpoint), "--maps-dir", str(maps), "--out-dir", str(out),
                 "--num-samples", "3", *options])
    return json.loads((out / "2CH_ED" / "summary.json").read_text())


@pytest.mark.slow  # trains networks for several seconds: not in the quick tier
def test_rflow_training_resumes_exactly_and_samples_in_one_step(small_labels, tmp_path):
    from .resumed_training import DIFFUSION, assert_same_last_checkpoint

    train(small_labels, tmp_path / "straight", "--image-size", "32")
    train(small_labels, tmp_path / "resumed", "--image-size", "32", "--max-steps", "2")
    train(small_labels, tmp_path / "resumed", "--image-size", "32")  # continues from step 2
    assert_same_last_checkpoint(DIFFUSION, tmp_path / "straight", tmp_path / "resumed")
    checkpoint = tmp_path / "straight" / "checkpoint_0000004.pt"
    from semantic_diffusion_model.training.checkpoint import load_checkpoint

    state = load_checkpoint(str(checkpoint))
    assert state["diffusion_config"]["formulation"] == "rflow"
    assert state["diffusion_config"]["rflow_shift"] == 2.0 and not state["model_config"]["learn_sigma"]
    maps = small_labels / "2CH_ED" / "sector_annotations"
    summary = sample(checkpoint, maps, tmp_path / "one", "--sampler", "euler", "--steps", "1")
    assert summary["formulation"] == "rflow" and summary["nfe_per_image"] == 1 and summary["done"] == 3
    heun = sample(checkpoint, maps, tmp_path / "heun", "--sampler", "heun", "--steps", "4")
    assert heun["nfe_per_image"] == 6  # shifted times 1, .86, .67, .4, 0: the first and last steps Euler


@pytest.mark.slow  # trains networks for several seconds: not in the quick tier
def test_latent_rflow_trains_and_samples_at_the_image_size(small_labels, tmp_path):
    from PIL import Image

    from .test_latent_diffusion import train_autoencoder

    autoencoder = train_autoencoder(small_labels, tmp_path / "vae")
    train(small_labels, tmp_path / "latent", "--autoencoder", str(autoencoder), "--max-steps", "2")
    maps = small_labels / "2CH_ED" / "sector_annotations"
    summary = sample(tmp_path / "latent" / "checkpoint_0000002.pt", maps, tmp_path / "out",
                     "--sampler", "euler", "--steps", "2")
    assert summary["formulation"] == "rflow" and summary["done"] == 3
    images = sorted((tmp_path / "out" / "2CH_ED" / "samples").glob("*.png"))
    assert len(images) == 3 and Image.open(images[0]).size == (64, 64)  # decoded to the image size
