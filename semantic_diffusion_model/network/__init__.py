"""The SPADE UNet: guided-diffusion's UNet with SPADE normalisation in the middle and decoder."""
