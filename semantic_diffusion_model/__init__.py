"""Semantic diffusion model: SPADE UNet, diffusion maths, samplers, training and sampling."""
