"""Gaussian diffusion maths (DDPM with learned interpolated variance, improved DDPM).

``GaussianDiffusion`` works for any array of betas, so a sampler can build one over a subset of
the timesteps (respacing): every method takes ``t`` as an index into this object's own betas; the
model call happens outside, which lets the caller map indices to the network's timesteps.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .likelihood import discretized_gaussian_log_likelihood, mean_flat, normal_kl


def get_named_beta_schedule(name: str, num_steps: int) -> np.ndarray:
    """Betas (float64, length num_steps) of the 'linear' (Ho et al.) or 'cosine' (Nichol &
    Dhariwal) schedule; the linear one is scaled so any T matches T = 1000."""
    if name == "linear":
        scale = 1000 / num_steps
        return np.linspace(scale * 0.0001, scale * 0.02, num_steps, dtype=np.float64)
    if name == "cosine":
        def alpha_bar(s: float) -> float:
            return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
        return np.array([min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), 0.999)
                         for i in range(num_steps)], dtype=np.float64)
    raise ValueError(f"unknown noise schedule {name!r} (known: linear, cosine)")


def _extract(array: np.ndarray | torch.Tensor, t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """array[t] as float32 on t's device, broadcastable to ``shape``."""
    values = torch.as_tensor(array, dtype=torch.float64, device=t.device)[t.long()].float()
    return values.reshape(-1, *([1] * (len(shape) - 1)))


class GaussianDiffusion:
    def __init__(self, betas: np.ndarray, learn_sigma: bool = True):
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or not ((betas > 0) & (betas <= 1)).all():
            raise ValueError("betas must be a 1-D array in (0, 1]")
        self.betas = betas
        self.learn_sigma = learn_sigma
        self.num_timesteps = len(betas)
        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        # q(x_{t-1} | x_t, x_0)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # the variance is 0 at t = 0: use the next one for the log
        self.posterior_log_variance_clipped = np.log(
            np.append(self.posterior_variance[1], self.posterior_variance[1:])
            if len(betas) > 1 else np.maximum(self.posterior_variance, 1e-20))
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = ((1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas)
                                     / (1.0 - self.alphas_cumprod))

    # forward process
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Sample x_t ~ q(x_t | x_0)."""
        noise = torch.randn_like(x0) if noise is None else noise
        return (_extract(self.sqrt_alphas_cumprod, t, x0.shape) * x0
                + _extract(self.sqrt_one_minus_alphas_cumprod, t, x0.shape) * noise)

    def q_posterior_mean_variance(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor):
        """Mean, variance and clipped log variance of q(x_{t-1} | x_t, x_0)."""
        mean = (_extract(self.posterior_mean_coef1, t, x_t.shape) * x0
                + _extract(self.posterior_mean_coef2, t, x_t.shape) * x_t)
        return (mean, _extract(self.posterior_variance, t, x_t.shape),
                _extract(self.posterior_log_variance_clipped, t, x_t.shape))

    # conversions between epsilon and x_0
    def predict_xstart_from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return (_extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t
                - _extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * eps)

    def predict_eps_from_xstart(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return ((_extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - x0)
                / _extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape))

    # reverse process
    def p_mean_variance(self, model_output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                        clip_denoised: bool = True) -> dict[str, torch.Tensor]:
        """p(x_{t-1} | x_t) from the network's output at x_t (t indexes this object's betas).

        With learned sigma the output's second half v in [-1, 1] interpolates the log variance
        between the posterior variance (v = -1) and beta_t (v = +1).
        """
        model_output = model_output.float()
        c = x_t.shape[1]
        if self.learn_sigma:
            if model_output.shape[1] != 2 * c:
                raise ValueError(f"expected {2 * c} output channels, got {model_output.shape[1]}")
            eps, v = model_output[:, :c], model_output[:, c:]
            min_log = _extract(self.posterior_log_variance_clipped, t, x_t.shape)
            max_log = _extract(np.log(self.betas), t, x_t.shape)
            frac = (v + 1) / 2
            log_variance = frac * max_log + (1 - frac) * min_log
            variance = torch.exp(log_variance)
        else:
            eps = model_output
            # fixed variance: beta_t, with the posterior variance at t = 0 (as in DDPM 'fixedlarge')
            variances = np.append(self.posterior_variance[1], self.betas[1:])
            variance = _extract(variances, t, x_t.shape).expand_as(x_t)
            log_variance = _extract(np.log(variances), t, x_t.shape).expand_as(x_t)
        pred_xstart = self.predict_xstart_from_eps(x_t, t, eps)
        if clip_denoised:
            pred_xstart = pred_xstart.clamp(-1, 1)
        mean, _, _ = self.q_posterior_mean_variance(pred_xstart, x_t, t)
        return {"mean": mean, "variance": variance, "log_variance": log_variance,
                "pred_xstart": pred_xstart, "eps": eps}

    def vb_terms_bpd(self, model_output: torch.Tensor, x0: torch.Tensor, x_t: torch.Tensor,
                     t: torch.Tensor) -> torch.Tensor:
        """The per-timestep variational bound term L_t per sample, in bits per dimension:
        KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) for t > 0, the decoder NLL of x_0 at t = 0."""
        true_mean, _, true_log_var = self.q_posterior_mean_variance(x0, x_t, t)
        out = self.p_mean_variance(model_output, x_t, t, clip_denoised=False)
        kl = mean_flat(normal_kl(true_mean, true_log_var, out["mean"], out["log_variance"])) / math.log(2.0)
        nll = -mean_flat(discretized_gaussian_log_likelihood(
            x0, out["mean"], 0.5 * out["log_variance"])) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def training_losses(self, model, x0: torch.Tensor, t: torch.Tensor, y: torch.Tensor,
                        noise: torch.Tensor | None = None, vb_weight: float = 0.001) -> dict[str, torch.Tensor]:
        """Hybrid loss per sample: MSE(eps) + vb_weight * L_t, the VB term with the mean detached
        so that it only trains the variance. vb_weight 0.001 is the published SDM's
        ``mse + 0.001 * vb``; improved DDPM's L_hybrid (lambda 0.001 on L_vlb = T L_t) is 1.

        Returns per-sample tensors 'loss', 'mse' and 'vb' (vb = L_t in bits per dimension).
        """
        noise = torch.randn_like(x0) if noise is None else noise
        x_t = self.q_sample(x0, t, noise)
        output = model(x_t, t, y).float()
        c = x0.shape[1]
        terms = {"mse": mean_flat((output[:, :c] - noise) ** 2)}
        if self.learn_sigma:
            frozen = torch.cat([output[:, :c].detach(), output[:, c:]], dim=1)
            terms["vb"] = self.vb_terms_bpd(frozen, x0, x_t, t)
            terms["loss"] = terms["mse"] + vb_weight * terms["vb"]
        else:
            terms["vb"] = torch.zeros_like(terms["mse"])
            terms["loss"] = terms["mse"]
        return terms


def create_diffusion(config, learn_sigma: bool) -> GaussianDiffusion:
    """The training diffusion of a DiffusionConfig (all T steps of its named schedule)."""
    return GaussianDiffusion(get_named_beta_schedule(config.noise_schedule, config.diffusion_steps),
                             learn_sigma=learn_sigma)
