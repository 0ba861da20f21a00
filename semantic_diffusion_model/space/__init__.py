"""Where a diffusion model works: on the pixels of the images (space.pixel) or on the latents of a
Gamma-VAE (space.latent). Either space knows the size of the images read and written
(``image_size``) and the side the network works at (``network_size``), encodes the training data and
decodes the samples; space.choice picks the one of a run or of a checkpoint."""
