"""ddpm: the published SDM's discrete process (Stojanovski et al. 2023 on improved DDPM): T steps of
a cosine (or linear) beta schedule, the network predicts epsilon and the interpolated variance,
trained with the hybrid loss MSE(eps) + vb_weight L_t (``diffusion.ddpm``)."""
from __future__ import annotations


import torch

from ..diffusion.ddpm import create_diffusion, get_named_beta_schedule
from ..samplers.process import Process
from .base import Formulation
from .parameters import parameter


class DDPM(Formulation):
    name = "ddpm"
    summary = ("the published SDM (discrete cosine schedule, epsilon and learned variance, hybrid "
               "loss)")
    learns_variance = True
    samplers = ("ddpm", "ddim", "dpm-solver++", "heun", "euler")

    class Parameters:
        noise_schedule: str = parameter("cosine", "beta schedule", choices=("cosine", "linear"))
        diffusion_steps: int = parameter(1000, "number of diffusion steps T", at_least=1)
        vb_weight: float = parameter(0.001, "weight of the per-timestep variational term L_t in the hybrid loss MSE + w L_t (the published code's mse + 0.001 * vb; guided-diffusion uses 1)", at_least=0)

    def __init__(self, config, learn_sigma: bool = True):
        super().__init__(config, learn_sigma)
        self.betas = get_named_beta_schedule(config.noise_schedule, config.diffusion_steps)
        self.diffusion = create_diffusion(config, learn_sigma)

    def network(self, net):
        return net  # (x_t, timestep, y) -> epsilon and the variance fraction

    def draw(self, batch, generator, device):
        T = len(self.betas)
        t = torch.randint(0, T, (batch,), generator=generator, device=device)
        return t, (t.double() + 0.5) / T

    def losses(self, network, x0, level, y, noise):
        return self.diffusion.training_losses(network, x0, level, y, noise=noise,
                                         vb_weight=self.config.vb_weight)

    def process(self):
        return Process.discrete(self.betas, self.learn_sigma, samplers=self.samplers)
