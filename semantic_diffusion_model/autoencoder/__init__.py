"""The follow-up paper's one-channel Gamma-VAE: the autoencoder whose latent means the latent
diffusion models (EDM-L) are trained on. config.py (options), gamma.py (prior and closed-form KL),
network.py (GammaVAE on MONAI's AutoencoderKL encoder and decoder), loss.py, checkpoint.py; the
training program is semantic_diffusion_model.train_autoencoder (docs/autoencoder.md)."""
