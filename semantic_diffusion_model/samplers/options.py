"""The sampler options of every program that samples (the sampling program, the NFE study), as one
configuration: which sampler, its steps, and each solver's own settings."""
from __future__ import annotations

from dataclasses import dataclass, field

from .dpm_solver import SPACINGS
from .registry import SAMPLER_NAMES, default_steps_help
from .sigma_steps import DISCRETIZATIONS


@dataclass
class SamplerConfig:
    sampler: str = field(default="ddpm", metadata={"help": "sampling method (listed above; ddpm and ddim need a ddpm checkpoint)", "choices": SAMPLER_NAMES})
    steps: int = field(default=0, metadata={"help": f"sampler steps; 0 = the sampler's default ({default_steps_help()})"})
    eta: float = field(default=0.0, metadata={"help": "ddim: noise scale (0 = deterministic DDIM, 1 = DDPM-like)"})
    dpm_spacing: str = field(default="logSNR", metadata={"help": "dpm-solver++: time steps uniform in log-SNR, in t or in sqrt(t) (the last two for ddpm checkpoints only)", "choices": SPACINGS})
    discretization: str = field(default="edm", metadata={"help": "heun, euler: noise levels of the steps (EDM Table 1: edm = uniform in sigma^(1/rho), vp, ve, iddpm)", "choices": DISCRETIZATIONS})
    sigma_min: float = field(default=0.0, metadata={"help": "heun, euler, dpm-solver++ (EDM family): smallest noise level; 0 = the discretization's (edm 0.002), clipped to the model's"})
    sigma_max: float = field(default=0.0, metadata={"help": "heun, euler, dpm-solver++ (EDM family): largest noise level; 0 = the discretization's (edm 80), clipped to the model's"})
    rho: float = field(default=7.0, metadata={"help": "heun, euler: rho of the edm discretization"})
    heun_euler_below: float = field(default=0.05, metadata={"help": "heun: a step to a noise level below this is an Euler step (no correction at sigma the network hardly saw); with --heun-max-ratio it removes the few-step artefact (saturated pixels at <= 10 NFE); 0 and --heun-max-ratio 0 = NVlabs' Algorithm 2 exactly"})
    heun_max_ratio: float = field(default=4.0, metadata={"help": "heun: a step that divides sigma by more than this is an Euler step (EDM's 18-step schedule never exceeds 3.8); 0 = no limit"})
    s_churn: float = field(default=0.0, metadata={"help": "heun, euler: S_churn of EDM Algorithm 2 (stochastic steps); 0 = deterministic Algorithm 1; the follow-up paper's code used 40"})
    s_min: float = field(default=0.02, metadata={"help": "heun, euler: churn only at noise levels >= S_min"})
    s_max: float = field(default=100.0, metadata={"help": "heun, euler: churn only at noise levels <= S_max"})
    s_noise: float = field(default=1.003, metadata={"help": "heun, euler: S_noise, the scale of the churn noise"})
    clip_denoised: bool = field(default=True, metadata={"help": "clip each prediction of the clean image to [-1, 1]"})
