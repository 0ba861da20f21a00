"""Gaussian diffusion maths: schedules, forward process, posterior, likelihood terms, hybrid loss."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semantic_diffusion_model.diffusion.ddpm import GaussianDiffusion, get_named_beta_schedule
from semantic_diffusion_model.diffusion.likelihood import discretized_gaussian_log_likelihood, normal_kl


def test_cosine_schedule_follows_its_closed_form():
    betas = get_named_beta_schedule("cosine", 1000)
    alphas_cumprod = np.cumprod(1 - betas)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    for t in (0, 10, 500, 900):
        assert alphas_cumprod[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert betas.max() <= 0.999 and (np.diff(alphas_cumprod) < 0).all()


def test_linear_schedule_is_scaled_to_t():
    assert get_named_beta_schedule("linear", 1000)[[0, -1]] == pytest.approx([1e-4, 0.02])
    assert get_named_beta_schedule("linear", 250)[[0, -1]] == pytest.approx([4e-4, 0.08])
    with pytest.raises(ValueError):
        get_named_beta_schedule("quadratic", 10)


def test_q_sample_and_conversions_are_consistent():
    diffusion = GaussianDiffusion(get_named_beta_schedule("cosine", 1000))
    torch.manual_seed(0)
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 10, 300, 800])
    x_t = diffusion.q_sample(x0, t, noise)
    ab = torch.tensor(diffusion.alphas_cumprod[t.numpy()], dtype=torch.float32)[:, None, None, None]
    torch.testing.assert_close(x_t, ab.sqrt() * x0 + (1 - ab).sqrt() * noise)
    torch.testing.assert_close(diffusion.predict_xstart_from_eps(x_t, t, noise), x0, atol=1e-4, rtol=0)
    torch.testing.assert_close(diffusion.predict_eps_from_xstart(x_t, t, x0), noise, atol=1e-4, rtol=0)


def test_posterior_is_the_product_of_gaussians_for_any_betas():
    # an irregular beta array, as a respaced diffusion would have
    betas = np.array([0.01, 0.05, 0.2, 0.1, 0.6])
    diffusion = GaussianDiffusion(betas)
    x0, x_t = torch.randn(5, 1, 2, 2, dtype=torch.float64), torch.randn(5, 1, 2, 2, dtype=torch.float64)
    t = torch.arange(1, 5)
    mean, var, log_var = diffusion.q_posterior_mean_variance(x0[1:].float(), x_t[1:].float(), t)
    ab = np.cumprod(1 - betas)
    for row, step in enumerate(t.tolist()):
        prior_var, prior_mean = 1 - ab[step - 1], math.sqrt(ab[step - 1]) * x0[row + 1]
        precision = 1 / prior_var + (1 - betas[step]) / betas[step]
        expected_mean = (prior_mean / prior_var
                         + math.sqrt(1 - betas[step]) * x_t[row + 1] / betas[step]) / precision
        torch.testing.assert_close(mean[row].double(), expected_mean, atol=1e-5, rtol=1e-5)
        assert var[row].item() == pytest.approx(1 / precision, rel=1e-5)
        assert log_var[row].item() == pytest.approx(math.log(1 / precision), rel=1e-5)


def test_learned_variance_interpolates_between_posterior_and_beta():
    diffusion = GaussianDiffusion(get_named_beta_schedule("cosine", 100), learn_sigma=True)
    x_t, t = torch.randn(3, 1, 4, 4), torch.tensor([1, 50, 99])
    eps = torch.randn_like(x_t)
    lows = diffusion.p_mean_variance(torch.cat([eps, -torch.ones_like(x_t)], 1), x_t, t)
    highs = diffusion.p_mean_variance(torch.cat([eps, torch.ones_like(x_t)], 1), x_t, t)
    for row, step in enumerate(t.tolist()):
        assert lows["log_variance"][row].flatten()[0].item() == pytest.approx(
            diffusion.posterior_log_variance_clipped[step], rel=1e-5)
        assert highs["log_variance"][row].flatten()[0].item() == pytest.approx(
            math.log(diffusion.betas[step]), rel=1e-5)
    # the mean is the posterior mean at the (clipped) predicted x_0
    x0 = diffusion.predict_xstart_from_eps(x_t, t, eps).clamp(-1, 1)
    torch.testing.assert_close(lows["mean"], diffusion.q_posterior_mean_variance(x0, x_t, t)[0])
    torch.testing.assert_close(lows["pred_xstart"], x0)


def test_normal_kl_and_discretized_likelihood():
    assert normal_kl(torch.tensor(0.3), torch.tensor(-1.0), torch.tensor(0.3), torch.tensor(-1.0)) == 0
    # KL(N(0,1) || N(1,4)) = log 2 + (1 + 1) / 8 - 1/2
    kl = normal_kl(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(1.0), torch.tensor(math.log(4)))
    assert kl.item() == pytest.approx(math.log(2) + 2 / 8 - 0.5, rel=1e-6)
    # the 256 bins of [-1, 1] carry the whole probability mass
    bins = torch.linspace(-1, 1, 256)
    for mean, log_scale in ((0.1, math.log(0.05)), (-0.9, math.log(0.3))):
        log_p = discretized_gaussian_log_likelihood(bins, torch.full_like(bins, mean),
                                                    torch.full_like(bins, log_scale))
        assert log_p.exp().sum().item() == pytest.approx(1.0, abs=2e-3)


class ConstantModel(torch.nn.Module):
    """Returns a learnable output, whatever the input (to inspect the loss gradients)."""

    def __init__(self, shape):
        super().__init__()
        self.out = torch.nn.Parameter(torch.randn(shape) * 0.5)

    def forward(self, x, t, y):
        return self.out


def test_hybrid_loss_weights_and_stop_gradient():
    diffusion = GaussianDiffusion(get_named_beta_schedule("cosine", 1000), learn_sigma=True)
    torch.manual_seed(0)
    model = ConstantModel((4, 2, 8, 8))
    x0, noise = torch.rand(4, 1, 8, 8) * 2 - 1, torch.randn(4, 1, 8, 8)
    t = torch.tensor([0, 5, 400, 999])
    terms = diffusion.training_losses(model, x0, t, None, noise=noise, vb_weight=0.002)
    torch.testing.assert_close(terms["mse"], ((model.out[:, :1] - noise) ** 2).mean((1, 2, 3)))
    torch.testing.assert_close(terms["loss"], terms["mse"] + 0.002 * terms["vb"])
    assert (terms["vb"] > 0).all()
    # the VB term trains the variance only: its gradient w.r.t. epsilon is zero
    terms["vb"].sum().backward()
    assert model.out.grad[:, :1].abs().max() == 0 and model.out.grad[:, 1:].abs().max() > 0


def test_default_loss_is_the_published_mse_plus_a_thousandth_of_vb():
    # the published code: loss = mse + 0.001 * vb, vb the per-timestep term (DESIGN.md); the
    # training program's default must give exactly that, not 1000 times more
    from semantic_diffusion_model.config import TrainConfig
    from semantic_diffusion_model.diffusion.ddpm import create_diffusion

    config = TrainConfig(data_dir="d", out_dir="o")
    diffusion = create_diffusion(config, learn_sigma=True)
    model = ConstantModel((2, 2, 8, 8))
    x0, noise = torch.rand(2, 1, 8, 8) * 2 - 1, torch.randn(2, 1, 8, 8)
    terms = diffusion.training_losses(model, x0, torch.tensor([3, 700]), None, noise=noise,
                                      vb_weight=config.vb_weight)
    assert (terms["vb"] > 0).all()
    torch.testing.assert_close(terms["loss"], terms["mse"] + 0.001 * terms["vb"])
