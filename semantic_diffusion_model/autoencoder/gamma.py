"""Gamma distributions of the latent: the published prior and the closed-form KL divergence.

Gamma(alpha, beta) is parameterised by shape alpha and RATE beta (mean alpha / beta), as in
torch.distributions.Gamma.
"""
from __future__ import annotations

import torch

# the follow-up's prior of every latent pixel: Gamma(3.75, rate 10.8), mean 0.347, sd 0.179
PRIOR_ALPHA = 3.75
PRIOR_BETA = 10.8


def gamma_kl(alpha_q: torch.Tensor, beta_q: torch.Tensor, alpha_p: torch.Tensor | float,
             beta_p: torch.Tensor | float) -> torch.Tensor:
    """KL(Gamma(alpha_q, beta_q) || Gamma(alpha_p, beta_p)) elementwise (rates, not scales):
    (a1 - a2) digamma(a1) - lgamma(a1) + lgamma(a2) + a2 (ln b1 - ln b2) + a1 (b2 - b1) / b1."""
    alpha_p = torch.as_tensor(alpha_p, dtype=alpha_q.dtype, device=alpha_q.device)
    beta_p = torch.as_tensor(beta_p, dtype=beta_q.dtype, device=beta_q.device)
    return ((alpha_q - alpha_p) * torch.digamma(alpha_q) - torch.lgamma(alpha_q)
            + torch.lgamma(alpha_p) + alpha_p * (torch.log(beta_q) - torch.log(beta_p))
            + alpha_q * (beta_p - beta_q) / beta_q)
