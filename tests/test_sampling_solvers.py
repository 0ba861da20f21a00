"""The samplers' mathematics, checked on Gaussian data whose ideal denoiser and probability-flow
ODE solution are known in closed form (no network: fast)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from semantic_diffusion_model.diffusion.ddpm import get_named_beta_schedule
from semantic_diffusion_model import formulations
from semantic_diffusion_model.formulations import DDPM
from semantic_diffusion_model.samplers.guidance import LabelConditionedDenoiser, effective_guidance_scale
from semantic_diffusion_model.diffusion.respacing import respace_betas, respaced_diffusion, space_timesteps
from semantic_diffusion_model.samplers import (SAMPLER_NAMES, DiscreteVPSchedule, PerSampleNoise, Process,
                                               Sampler, noise_seed)
from semantic_diffusion_model.samplers import dpm_solver
from semantic_diffusion_model.samplers.sigma_steps import karras_sigmas

from .conftest import REPO

T = 1000
BETAS = get_named_beta_schedule("cosine", T)
SCHEDULE = DiscreteVPSchedule(np.cumprod(1 - BETAS))


class GaussianDataModel:
    """The ideal epsilon predictor for data x0 ~ N(mu, s^2) per pixel, at any (fractional)
    timestep of the continuous-time schedule; counts its calls."""

    def __init__(self, mu: float, s: float, learn_sigma: bool = False):
        self.mu, self.s, self.learn_sigma, self.calls = mu, s, learn_sigma, 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        alpha = torch.as_tensor(SCHEDULE.alpha((t.double().cpu().numpy() + 1) / T),
                                dtype=x.dtype).view(-1, 1, 1, 1)
        sigma = torch.sqrt(1 - alpha**2)
        eps = sigma * (x - alpha * self.mu) / (alpha**2 * self.s**2 + sigma**2)
        return torch.cat([eps, torch.zeros_like(eps)], 1) if self.learn_sigma else eps


def exact_edm_solution(x_edm: torch.Tensor, sigma_from: float, sigma_to: float, mu: float,
                       s: float) -> torch.Tensor:
    """PF-ODE solution for Gaussian data: x - mu scales with sqrt(s^2 + sigma^2)."""
    return mu + (x_edm - mu) * np.sqrt(s**2 + sigma_to**2) / np.sqrt(s**2 + sigma_from**2)


def errors(name: str, steps_list: list[int], mu=0.2, s=0.5, **options) -> list[float]:
    out = []
    for steps in steps_list:
        sampler = Sampler(name, Process.discrete(BETAS, False), steps=steps, clip_denoised=False, **options)
        seeds = [1, 2, 3, 4]
        x_start = PerSampleNoise(seeds, (1, 8, 8))()
        x = sampler(GaussianDataModel(mu, s), PerSampleNoise(seeds, (1, 8, 8)))
        if name == "heun":
            sigma_max = min(SCHEDULE.edm_sigma_max, 80.0)
            sigma_min = max(SCHEDULE.edm_sigma_min, 0.002)
            at_min = exact_edm_solution(x_start * sigma_max, sigma_max, sigma_min, mu, s)
            # the last step is Euler to sigma = 0, i.e. the ideal denoiser at sigma_min
            reference = (s**2 * at_min + sigma_min**2 * mu) / (s**2 + sigma_min**2)
        else:  # dpm-solver++: from x_T at the clipped t_max to x at t = 1/T
            t_max = dpm_solver.clipped_t_max(SCHEDULE)
            alpha_T, alpha_0 = SCHEDULE.alpha(t_max), SCHEDULE.alpha(SCHEDULE.t_min)
            x_edm = exact_edm_solution(x_start / alpha_T, SCHEDULE.edm_sigma(t_max),
                                       SCHEDULE.edm_sigma(SCHEDULE.t_min), mu, s)
            reference = x_edm * alpha_0
        out.append((x - reference).abs().max().item())
    return out


def test_heun_is_second_order():
    # Heun with the correction at the right point: the error falls ~4x when the steps double
    # (Euler, or the released code's correction at the start point, would give ~2x)
    e = errors("heun", [16, 32, 64], heun_euler_below=0.0, heun_max_ratio=0.0)  # NVlabs exactly
    ratios = [e[0] / e[1], e[1] / e[2]]
    assert all(3.3 < r < 6.0 for r in ratios), (e, ratios)
    assert e[2] < 1e-2


@pytest.mark.parametrize("spacing", ["logSNR", "time_uniform"])
def test_dpm_solver_is_second_order(spacing):
    e = errors("dpm-solver++", [40, 80, 160], dpm_spacing=spacing)
    ratios = [e[0] / e[1], e[1] / e[2]]
    assert all(3.3 < r < 5.0 for r in ratios), (e, ratios)


@pytest.mark.parametrize("name,steps,eta,learn_sigma", [
    ("ddpm", 0, 0.0, True),     # the published 1000-step sampler, learned variance
    ("ddpm", 0, 0.0, False),
    ("ddpm", 50, 0.0, True),    # respaced
    ("ddim", 50, 0.0, False),
    ("ddim", 50, 1.0, False),
    ("dpm-solver++", 20, 0.0, False),
    ("heun", 18, 0.0, False),
])
def test_samplers_reproduce_gaussian_data(name, steps, eta, learn_sigma):
    mu, s = 0.2, 0.3
    sampler = Sampler(name, Process.discrete(BETAS, learn_sigma), steps=steps, eta=eta, clip_denoised=False)
    x = sampler(GaussianDataModel(mu, s, learn_sigma), PerSampleNoise(list(range(8)), (1, 32, 32)))
    assert abs(x.mean().item() - mu) < 0.02
    assert abs(x.std().item() - s) < 0.03


@pytest.mark.parametrize("name,steps", [("ddpm", 0), ("ddpm", 25), ("ddim", 10),
                                        ("dpm-solver++", 7), ("heun", 6)])
def test_reported_nfe_is_the_number_of_network_evaluations(name, steps):
    sampler = Sampler(name, Process.discrete(BETAS, False), steps=steps)
    model = GaussianDataModel(0.0, 0.5)
    sampler(model, PerSampleNoise([0], (1, 4, 4)))
    assert model.calls == sampler.nfe == {"ddpm": steps or T, "heun": 8}.get(name, steps)
    if name == "heun":  # 3 of the 5 corrections are dropped (the steps that end below sigma 0.05
        # or divide sigma by more than 4); without the rule every step but the last is corrected
        exact = Sampler(name, Process.discrete(BETAS, False), steps=steps, heun_euler_below=0.0,
                        heun_max_ratio=0.0)
        assert exact.nfe == 2 * steps - 1


def test_space_timesteps_keeps_first_and_last_evenly():
    kept = space_timesteps(1000, 50)
    assert len(kept) == 50 and kept[0] == 0 and kept[-1] == 999
    assert np.all(np.diff(kept) >= 20) and np.all(np.diff(kept) <= 21)
    assert np.array_equal(space_timesteps(1000, 1000), np.arange(1000))
    with pytest.raises(Exception, match="--steps"):
        space_timesteps(1000, 1001)


def test_respaced_diffusion_keeps_the_noise_levels_of_the_kept_steps():
    abar = np.cumprod(1 - BETAS)
    assert np.allclose(respace_betas(abar, np.arange(T)), BETAS)
    diffusion, timestep_map = respaced_diffusion(BETAS, True, 10)
    assert np.allclose(diffusion.alphas_cumprod, abar[timestep_map])
    assert diffusion.num_timesteps == 10 and diffusion.learn_sigma


def test_vp_schedule_hits_the_training_timesteps():
    # at continuous time (n + 1) / T the network gets exactly timestep n and the trained noise level
    n = np.array([0, 1, 500, 999])
    t = (n + 1) / T
    assert np.allclose(SCHEDULE.model_timestep(t), n)
    assert np.allclose(SCHEDULE.alpha(t) ** 2, np.cumprod(1 - BETAS)[n])
    sigmas = np.array([0.01, 0.5, 3.0, 80.0])
    assert np.allclose(SCHEDULE.edm_sigma(SCHEDULE.t_from_edm_sigma(sigmas)), sigmas)
    assert np.all(np.diff(SCHEDULE.log_snr(np.linspace(SCHEDULE.t_min, 1, 50))) < 0)


def test_karras_sigmas():
    sigmas = karras_sigmas(18, 0.002, 80.0)
    assert len(sigmas) == 19 and sigmas[-1] == 0
    assert np.isclose(sigmas[0], 80.0) and np.isclose(sigmas[-2], 0.002)
    assert np.all(np.diff(sigmas) < 0)


def test_noise_of_a_sample_does_not_depend_on_its_batch():
    names = ["a", "b", "c", "d"]
    together = PerSampleNoise.for_names(7, names, (1, 4, 4))
    first, second = together(), together()
    for i, name in enumerate(names):
        alone = PerSampleNoise.for_names(7, [name], (1, 4, 4))
        assert torch.equal(alone()[0], first[i]) and torch.equal(alone()[0], second[i])
    assert noise_seed(0, "a") != noise_seed(1, "a") != noise_seed(0, "b")


def test_classifier_free_guidance_combines_one_double_batch():
    class LabelModel(torch.nn.Module):
        """eps = x + 10 * (sum of the map), variance channel = 3 * (sum of the map)."""
        def __init__(self):
            super().__init__()
            self.batches = []

        def forward(self, x, t, y):
            self.batches.append(x.shape[0])
            m = y.sum(dim=1, keepdim=True)
            return torch.cat([x + 10 * m, 3 * m], dim=1)

    model = LabelModel()
    y = torch.ones(2, 5, 4, 4)
    x, t = torch.randn(2, 1, 4, 4), torch.zeros(2)
    guided = LabelConditionedDenoiser(model, y, guidance_scale=3.0)
    out = guided(x, t)
    # eps_null = x, eps_cond = x + 50 -> x + 3 * 50; variance from the conditional pass
    assert torch.allclose(out[:, :1], x + 150.0) and torch.allclose(out[:, 1:], torch.full_like(x, 15.0))
    assert model.batches == [4] and guided.evaluations == 1 and guided.images_evaluated == 4
    plain = LabelConditionedDenoiser(model, y, guidance_scale=1.0)
    assert torch.allclose(plain(x, t)[:, :1], x + 50.0) and model.batches[-1] == 2


def test_guidance_is_off_for_models_without_label_dropout(capsys):
    assert effective_guidance_scale(2.0, 0.0) == 1.0
    assert "never learned the null map" in capsys.readouterr().err
    assert effective_guidance_scale(2.0, 0.1) == 2.0
    assert effective_guidance_scale(1.0, 0.0) == 1.0 and capsys.readouterr().err == ""


def test_every_sampler_is_registered():
    assert set(SAMPLER_NAMES) == {"ddpm", "ddim", "dpm-solver++", "heun", "euler"}


@pytest.mark.parametrize("steps", [5, 8])
def test_dpm_solver_clips_the_start_at_log_snr_minus_5_1(steps, monkeypatch):
    # the reference solver starts the cosine schedule where lambda = -5.1, not at t = 1 (lambda
    # -9.9, alpha 0.0001), where a third of few steps would be wasted
    t_max = dpm_solver.clipped_t_max(SCHEDULE)
    assert SCHEDULE.log_snr(t_max) == pytest.approx(-5.1, abs=1e-6) and t_max < 1
    assert dpm_solver.time_steps(SCHEDULE, steps)[0] == pytest.approx(t_max)
    clipped = errors("dpm-solver++", [steps])[0]
    monkeypatch.setattr(dpm_solver, "LAMBDA_MIN", -np.inf)  # the solver without the clip
    unclipped = errors("dpm-solver++", [steps])[0]
    assert clipped * 3 < unclipped, (clipped, unclipped)


class GreySampler:
    """A throw-away sampler: one module-like object with the registry's entries (no options of its
    own), whose images are a constant grey 0.5 in [-1, 1] (191 as uint8) whatever the network."""

    NAME, SUMMARY, DEFAULT_STEPS, OPTIONS = "grey", "a test's constant grey", 3, ()

    @staticmethod
    def nfe(steps):
        return 2 * steps

    @staticmethod
    def sample(denoiser, process, noise, steps, options, progress=False):
        return torch.full_like(noise(), 0.5)


def test_a_sampler_registered_by_a_test_samples_through_the_program(tmp_path, monkeypatch, capsys):
    import json

    from PIL import Image

    from semantic_diffusion_model.sample import main as sample_main
    from semantic_diffusion_model.samplers import registry

    stored = REPO / "tests" / "data" / "formulation_checkpoints"  # a ddpm checkpoint and two maps
    monkeypatch.setitem(registry.SAMPLERS, "grey", GreySampler)
    monkeypatch.setattr(DDPM, "samplers", (*DDPM.samplers, "grey"))
    with pytest.raises(SystemExit):
        sample_main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "grey a test's constant grey. Checkpoints: ddpm; default steps 3; NFE = 2 x steps." in shown
    sample_main(["--checkpoint", str(stored / "ddpm.pt"), "--maps-dir", str(stored / "maps"),
                 "--out-dir", str(tmp_path), "--sampler", "grey"])
    pngs = sorted(tmp_path.rglob("samples/*.png"))
    assert len(pngs) == 2
    for png in pngs:
        assert np.all(np.asarray(Image.open(png)) == 191), png.name
    summary = json.loads((pngs[0].parent.parent / "summary.json").read_text())
    assert (summary["sampler"], summary["steps"], summary["nfe_per_image"]) == ("grey", 3, 6)
    # a checkpoint whose formulation does not list it is refused
    monkeypatch.setattr(DDPM, "samplers", tuple(s for s in DDPM.samplers if s != "grey"))
    with pytest.raises(SystemExit):
        sample_main(["--checkpoint", str(stored / "ddpm.pt"), "--maps-dir", str(stored / "maps"),
                     "--out-dir", str(tmp_path / "refused"), "--sampler", "grey"])
    assert not (tmp_path / "refused").exists()
