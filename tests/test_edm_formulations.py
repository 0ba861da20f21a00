"""The EDM family: preconditioning and loss in closed form, the ODE solvers on Gaussian data whose
exact solution is known, and the programs with an EDM checkpoint (training resumed after SIGKILL,
sampling, the one-line error for a sampler that does not fit)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from semantic_diffusion_model.config import DiffusionConfig, TrainConfig
from semantic_diffusion_model.diffusion.preconditioning import (PreconditionedDenoiser, vp_sigma,
                                                                vp_sigma_inverse)
from semantic_diffusion_model.formulations import formulation_of
from semantic_diffusion_model.sample import main as sample_main
from semantic_diffusion_model.samplers import PerSampleNoise, Process, Sampler
from semantic_diffusion_model.samplers.sigma_steps import iddpm_levels, sigma_steps
from semantic_diffusion_model.train import main as train_main
from semantic_diffusion_model.training.checkpoint import load_checkpoint, load_model

from .conftest import expect_user_error
from .resumed_training import DIFFUSION, kill_and_resume

SIGMAS = torch.tensor([0.002, 0.1, 0.5, 1.0, 7.0, 80.0], dtype=torch.float64)


@pytest.mark.parametrize("formulation", ["edm", "vp", "ve"])
def test_preconditioning_equals_the_closed_forms(formulation):
    config = DiffusionConfig(formulation=formulation)
    c_skip, c_out, c_in, c_noise = formulation_of(config).coefficients(SIGMAS)
    s = SIGMAS.numpy()
    if formulation == "edm":  # Karras et al. 2022, Table 1, sigma_data 0.5
        expected = (0.25 / (s**2 + 0.25), s * 0.5 / np.sqrt(s**2 + 0.25), 1 / np.sqrt(s**2 + 0.25),
                    np.log(s) / 4)
    elif formulation == "vp":
        t = (np.sqrt(0.1**2 + 2 * 19.9 * np.log(s**2 + 1)) - 0.1) / 19.9
        expected = (np.ones_like(s), -s, 1 / np.sqrt(s**2 + 1), 999 * t)
    else:
        expected = (np.ones_like(s), s, np.ones_like(s), np.log(s / 2))
    for got, want in zip((c_skip, c_out, c_in, c_noise), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)
    if formulation == "edm":  # D = x for sigma -> 0, and the effective target has unit variance
        assert c_skip[0] == pytest.approx(1, abs=1e-4)


def test_vp_sigma_and_its_inverse():
    t = torch.tensor([1e-5, 0.01, 0.5, 1.0], dtype=torch.float64)
    sigma = vp_sigma(t, 19.9, 0.1)
    np.testing.assert_allclose(sigma.numpy(), np.sqrt(np.exp(0.5 * 19.9 * t.numpy()**2 + 0.1 * t.numpy()) - 1))
    np.testing.assert_allclose(vp_sigma_inverse(sigma, 19.9, 0.1).numpy(), t.numpy(), rtol=1e-9)
    config = DiffusionConfig(formulation="vp")
    assert formulation_of(config).sigma_max == pytest.approx(math.sqrt(math.exp(9.95 + 0.1) - 1))
    assert formulation_of(DiffusionConfig(formulation="ve")).sigma_min == 0.02


@pytest.mark.parametrize("formulation", ["edm", "vp", "ve"])
def test_loss_weights_and_noise_level_distributions(formulation):
    config = DiffusionConfig(formulation=formulation)
    loss = formulation_of(config)
    weight = loss.weight(SIGMAS).numpy()
    s = SIGMAS.numpy()
    expected = (s**2 + 0.25) / (s * 0.5) ** 2 if formulation == "edm" else 1 / s**2
    np.testing.assert_allclose(weight, expected, rtol=1e-12)
    sigma, u = loss.draw(20000, torch.Generator().manual_seed(0), "cpu")
    log_sigma = sigma.double().log()
    if formulation == "edm":  # ln sigma ~ N(-1.2, 1.2^2)
        assert log_sigma.mean().item() == pytest.approx(-1.2, abs=0.03)
        assert log_sigma.std().item() == pytest.approx(1.2, abs=0.03)
    elif formulation == "ve":  # log-uniform on [0.02, 100]
        assert sigma.min() >= 0.02 * 0.999 and sigma.max() <= 100 * 1.001
        assert log_sigma.mean().item() == pytest.approx((math.log(0.02) + math.log(100)) / 2, abs=0.05)
    else:  # t ~ U(1e-5, 1)
        t = vp_sigma_inverse(sigma.double(), 19.9, 0.1)
        assert t.min() >= 1e-5 * 0.99 and t.max() <= 1.0 + 1e-6
        assert t.mean().item() == pytest.approx(0.5, abs=0.01)
    assert ((u >= 0) & (u < 1)).all()


class RecordingNetwork(torch.nn.Module):
    """F(x, c_noise, y) = 3 x + c_noise, remembering its inputs."""

    def forward(self, x, c_noise, y):
        self.inputs = (x, c_noise)
        return 3 * x + c_noise.reshape(-1, 1, 1, 1)


@pytest.mark.parametrize("formulation", ["edm", "vp", "ve"])
def test_preconditioned_denoiser_wraps_the_network(formulation):
    config = DiffusionConfig(formulation=formulation)
    net = RecordingNetwork()
    x, sigma = torch.randn(2, 1, 4, 4), torch.tensor([0.3, 20.0])
    formulation = formulation_of(config)
    out = PreconditionedDenoiser(net, formulation)(x, sigma, None)
    c_skip, c_out, c_in, c_noise = (c.float() for c in formulation.coefficients(sigma.double().reshape(-1, 1, 1, 1)))
    torch.testing.assert_close(net.inputs[0], c_in * x)
    torch.testing.assert_close(net.inputs[1], c_noise.flatten())
    torch.testing.assert_close(out, c_skip * x + c_out * (3 * c_in * x + c_noise))


def test_the_edm_family_predicts_no_variance():
    assert TrainConfig(data_dir="d", out_dir="o", formulation="edm").out_channels == 1
    assert TrainConfig(data_dir="d", out_dir="o").out_channels == 2


# --- the ODE solvers on Gaussian data ----------------------------------------------------------

class GaussianDenoiser:
    """The ideal D(x; sigma) for data x0 ~ N(mu, s^2) per pixel; counts its calls."""

    def __init__(self, mu: float, s: float):
        self.mu, self.s, self.calls = mu, s, 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        sigma = sigma.double().reshape(-1, 1, 1, 1)
        return ((self.s**2 * x.double() + sigma**2 * self.mu) / (self.s**2 + sigma**2)).float()


EDM_PROCESS = Process("edm", 0.0, math.inf)


def solver_error(name: str, steps: int, discretization: str = "edm", mu=0.2, s=0.5) -> float:
    """Max error of ``name`` against the exact probability-flow solution."""
    seeds = [1, 2, 3, 4]
    sampler = Sampler(name, EDM_PROCESS, steps, clip_denoised=False, discretization=discretization,
                      heun_euler_below=0.0, heun_max_ratio=0.0)  # NVlabs' Algorithm exactly
    x = sampler(GaussianDenoiser(mu, s), PerSampleNoise(seeds, (1, 8, 8)))
    sigmas = sigma_steps(discretization, steps, *{"edm": (0.002, 80.0), "vp": (0.0105, 152.0),
                                                 "ve": (0.02, 100.0)}[discretization])
    x_start = PerSampleNoise(seeds, (1, 8, 8))().double() * sigmas[0]
    sigma_last = sigmas[-2]
    # the exact ODE flow: x - mu scales with sqrt(s^2 + sigma^2); then the last step to sigma = 0
    # is a plain Euler step, i.e. the ideal denoiser at the last noise level
    at_last = mu + (x_start - mu) * math.sqrt(s**2 + sigma_last**2) / math.sqrt(s**2 + sigmas[0]**2)
    reference = (s**2 * at_last + sigma_last**2 * mu) / (s**2 + sigma_last**2)
    return (x.double() - reference).abs().max().item()


@pytest.mark.parametrize("name,order", [("heun", 2), ("euler", 1)])
def test_solvers_converge_at_their_order_on_gaussian_data(name, order):
    steps = [32, 64, 128] if name == "heun" else [64, 128, 256]
    e = [solver_error(name, n) for n in steps]
    ratios = [e[0] / e[1], e[1] / e[2]]
    low, high = (3.3, 5.0) if order == 2 else (1.7, 2.3)
    assert all(low < r < high for r in ratios), (e, ratios)
    assert e[-1] < (2e-3 if order == 2 else 2e-2)


@pytest.mark.parametrize("discretization", ["edm", "vp", "ve"])
def test_heun_matches_the_exact_solution_on_every_discretization(discretization):
    assert solver_error("heun", 128, discretization) < 3e-3


def test_heun_with_churn_still_samples_the_data_distribution():
    mu, s = 0.2, 0.3
    sampler = Sampler("heun", EDM_PROCESS, 40, clip_denoised=False, s_churn=40.0)
    model = GaussianDenoiser(mu, s)
    x = sampler(model, PerSampleNoise(list(range(8)), (1, 32, 32)))
    assert abs(x.mean().item() - mu) < 0.02 and abs(x.std().item() - s) < 0.03
    assert model.calls == sampler.nfe == 40 + 32  # the corrections of the steps to sigma >= 0.05


@pytest.mark.parametrize("name,steps,nfe", [("heun", 5, 5), ("heun", 10, 16), ("heun", 18, 32),
                                            ("euler", 7, 7), ("dpm-solver++", 6, 6)])
def test_nfe_is_the_number_of_denoiser_calls(name, steps, nfe):
    model = GaussianDenoiser(0.0, 0.5)
    sampler = Sampler(name, EDM_PROCESS, steps)
    sampler(model, PerSampleNoise([0], (1, 4, 4)))
    assert model.calls == sampler.nfe == nfe


class UndertrainedDenoiser(GaussianDenoiser):
    """The ideal denoiser of N(mu, s^2) data plus the error of a network that was rarely trained at
    small noise levels: its raw output F (D = c_skip x + c_out F, EDM preconditioning with
    sigma_data 0.5) is off by eps(sigma) = 0.05 sqrt(1 + (0.2 / sigma)^2) in a +-1 pattern, 5.0 at
    sigma = 0.002, 0.05 above sigma = 1."""

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        exact = super().__call__(x, sigma).double()
        sigma = sigma.double().reshape(-1, 1, 1, 1)
        c_out = sigma * 0.5 / (sigma**2 + 0.25).sqrt()
        eps = 0.05 * (1 + (0.2 / sigma) ** 2).sqrt()
        pattern = 1.0 - 2.0 * (torch.arange(x[0].numel()).reshape(x.shape[1:]) % 2).double()
        return (exact + c_out * eps * pattern).float()


def rms_error_to_the_flow(sampler: Sampler, model, mu=0.2, s=0.5) -> float:
    """RMS distance of the sampler's images to the exact flow of their initial noise to sigma = 0."""
    seeds = list(range(8))
    x = sampler(model, PerSampleNoise(seeds, (1, 16, 16))).double()
    x_start = PerSampleNoise(seeds, (1, 16, 16))().double() * 80.0
    return (x - (mu + (x_start - mu) * s / math.sqrt(s**2 + 80.0**2))).pow(2).mean().sqrt().item()


@pytest.mark.parametrize("steps", [3, 5, 9])
def test_few_step_heun_is_bounded_with_an_undertrained_denoiser(steps):
    # NVlabs' Algorithm 2 (both options 0): the last correction at sigma 0.002 adds ~1.25 x the
    # network's error there (3 steps: RMS 6.5, 13 data standard deviations); the default never
    # does worse than Euler with as many steps, and stays within a data standard deviation
    safe = rms_error_to_the_flow(Sampler("heun", EDM_PROCESS, steps, clip_denoised=False),
                                 UndertrainedDenoiser(0.2, 0.5))
    euler = rms_error_to_the_flow(Sampler("euler", EDM_PROCESS, steps, clip_denoised=False),
                                  UndertrainedDenoiser(0.2, 0.5))
    nvlabs = rms_error_to_the_flow(Sampler("heun", EDM_PROCESS, steps, clip_denoised=False,
                                           heun_euler_below=0.0, heun_max_ratio=0.0),
                                   UndertrainedDenoiser(0.2, 0.5))
    assert safe <= euler * 1.01 and safe < 0.5, (safe, euler)
    assert nvlabs > 1.3 * safe, (nvlabs, safe)


def test_heun_keeps_its_corrections_where_the_steps_are_small():
    # 18 steps (EDM's 35 NFE): only the 3 corrections below sigma 0.05 go, and on the exact
    # Gaussian denoiser the result stays within 0.02 of NVlabs' algorithm (RMS)
    model = GaussianDenoiser(0.2, 0.5)
    default = Sampler("heun", EDM_PROCESS, 18, clip_denoised=False)
    nvlabs = Sampler("heun", EDM_PROCESS, 18, clip_denoised=False, heun_euler_below=0.0,
                     heun_max_ratio=0.0)
    assert (default.nfe, nvlabs.nfe) == (32, 35)
    a, b = (sampler(model, PerSampleNoise(list(range(4)), (1, 16, 16))) for sampler in (default, nvlabs))
    assert (a - b).pow(2).mean().sqrt() < 0.02


def test_dpm_solver_on_edm_data_is_second_order():
    def error(steps):
        seeds = [1, 2]
        x = Sampler("dpm-solver++", EDM_PROCESS, steps, clip_denoised=False)(
            GaussianDenoiser(0.2, 0.5), PerSampleNoise(seeds, (1, 8, 8)))
        x_start = PerSampleNoise(seeds, (1, 8, 8))().double() * 80.0
        reference = 0.2 + (x_start - 0.2) * math.sqrt(0.25 + 0.002**2) / math.sqrt(0.25 + 80.0**2)
        return (x.double() - reference).abs().max().item()
    e = [error(n) for n in (40, 80, 160)]
    assert all(3.3 < a / b < 5.0 for a, b in zip(e, e[1:])), e


def test_iddpm_levels_are_improved_ddpm_noise_levels():
    u = iddpm_levels()
    assert u[-1] == 0 and np.all(np.diff(u) < 0)  # u_0 > u_1 > ... > u_M = 0
    steps = sigma_steps("iddpm", 10, 0.002, 81.0)
    assert len(steps) == 11 and steps[-1] == 0 and np.all(np.diff(steps) < 0)
    assert set(steps[:-1]) <= set(u)


# --- the programs with an EDM checkpoint -------------------------------------------------------

TINY = ["--image-size", "32", "--model-channels", "16", "--channel-mult", "1", "2",
        "--num-res-blocks", "1", "--attention-resolutions", "16", "--num-head-channels", "8",
        "--norm-groups", "8", "--spade-hidden", "8", "--batch-size", "4", "--lr", "1e-3",
        "--no-tensorboard", "--num-workers", "1", "--views", "2CH_ED"]


def edm_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--data-dir", str(data), "--out-dir", str(out), "--formulation", "edm", *TINY,
            "--lr-anneal-steps", "6", "--log-interval", "1", *extra]


@pytest.fixture(scope="module")
def edm_run(small_labels, tmp_path_factory) -> Path:
    """6 uninterrupted EDM training steps, a checkpoint every step, label dropout 0.2."""
    out = tmp_path_factory.mktemp("edm_reference")
    train_main(edm_args(small_labels, out, "--save-interval", "1", "--keep-checkpoints", "0",
                        "--label-dropout", "0.2"))
    return out


@pytest.mark.slow  # trains networks for several seconds: not in the quick tier
def test_edm_checkpoint_records_the_formulation(edm_run):
    state = load_checkpoint(str(edm_run / "checkpoint_0000006.pt"))
    assert state["diffusion_config"]["formulation"] == "edm"
    assert state["diffusion_config"]["p_mean"] == -1.2 and state["diffusion_config"]["sigma_data"] == 0.5
    assert state["model_config"]["learn_sigma"] is False
    model, diffusion_config, _ = load_model(str(edm_run / "checkpoint_0000006.pt"))
    assert isinstance(model, PreconditionedDenoiser) and diffusion_config.formulation == "edm"
    config = json.loads((edm_run / "config.json").read_text())
    assert config["formulation"] == "edm"
    losses = [float(r.split(",")[1]) for r in (edm_run / "progress.csv").read_text().splitlines()[1:]]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)


@pytest.mark.slow
def test_killed_edm_training_resumes_bit_identical(edm_run, small_labels, tmp_path):
    out = tmp_path / "killed"
    kill_and_resume(DIFFUSION, edm_args(small_labels, out, "--save-interval", "1",
                                        "--keep-checkpoints", "0", "--label-dropout", "0.2"),
                    out, kill_at=2, kept=[1, 2, 3, 4, 5, 6], reference=edm_run)


@pytest.mark.slow  # trains networks for several seconds: not in the quick tier
@pytest.mark.parametrize("sampler", ["heun", "euler", "dpm-solver++"])
def test_sampling_an_edm_checkpoint_writes_step_3(edm_run, small_labels, tmp_path, sampler):
    out = tmp_path / "samples"
    sample_main(["--checkpoint", str(edm_run / "checkpoint_0000006.pt"), "--maps-dir",
                 str(small_labels), "--views", "2CH_ED", "--out-dir", str(out), "--sampler", sampler,
                 "--steps", "3", "--num-samples", "2", "--guidance-scale", "1.5",
                 *(["--heun-max-ratio", "0"] if sampler == "heun" else [])])
    summary = json.loads((out / "2CH_ED" / "summary.json").read_text())
    assert summary["formulation"] == "edm" and summary["sampler"] == sampler
    # heun: 80 -> 2.5 corrected, 2.5 -> 0.002 (below 0.05) and the last step Euler
    assert summary["nfe_per_image"] == {"heun": 4}.get(sampler, 3) and summary["seconds_per_image"] > 0
    recorded = json.loads((out / "2CH_ED" / "sample_config.json").read_text())["generation"]
    assert (recorded.get("heun_max_ratio"), recorded.get("heun_euler_below")) == (
        (0.0, 0.05) if sampler == "heun" else (None, None))
    assert summary["network_images_per_image"] == 2 * summary["nfe_per_image"]  # guided
    assert len(list((out / "2CH_ED" / "samples").glob("*.png"))) == 2


@pytest.mark.parametrize("options,fragments", [
    (["--sampler", "ddpm"], ["sampler ddpm does not fit edm checkpoints", "dpm-solver++, heun, euler"]),
    (["--sampler", "ddim"], ["sampler ddim does not fit edm checkpoints"]),
    (["--sampler", "dpm-solver++", "--dpm-spacing", "time_uniform"], ["needs a ddpm checkpoint"]),
])
@pytest.mark.slow  # trains networks for several seconds: not in the quick tier
def test_a_sampler_that_does_not_fit_is_a_one_line_error(edm_run, small_labels, tmp_path, capsys,
                                                           options, fragments):
    out = tmp_path / "samples"
    expect_user_error(sample_main, ["--checkpoint", str(edm_run / "checkpoint_0000006.pt"),
                                    "--maps-dir", str(small_labels), "--out-dir", str(out), *options],
                      capsys, str(edm_run / "checkpoint_0000006.pt"), *fragments)
    assert not out.exists()
