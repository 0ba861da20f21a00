"""How well the Gamma-VAE reconstructs real images: PSNR and SSIM (scikit-image, data range 1)
of decoder(E[z]) against the original, and a figure original | reconstruction | latent mean."""
from __future__ import annotations

import io
import json

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from echo_from_noise import storage
from ..training.data import PairData
from .checkpoint import STABLE_NAME, weights_digest
from .network import GammaVAE

FIGURE_IMAGES = 4
EVALUATION_FILE = "evaluation.json"


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, H, W) float in [0, 1]."""
    return images.float().div(255.0)[:, None]


@torch.no_grad()
def reconstruct(model: GammaVAE, images: torch.Tensor, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) uint8 -> decoded latent means (N, H, W) in [0, 1] and the latent means (N, h, w)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    recons, latents = [], []
    for start in range(0, len(images), batch_size):
        mean = model.latent_mean(to_unit(images[start:start + batch_size].to(device)))
        recons.append(model.decode(mean).float().clamp(0.0, 1.0)[:, 0].cpu())
        latents.append(mean[:, 0].cpu())
    model.train(was_training)
    return torch.cat(recons).numpy(), torch.cat(latents).numpy()


def image_metrics(images: torch.Tensor, recons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PSNR (dB) and SSIM of each reconstruction against its uint8 original, data range 1."""
    originals = images.numpy().astype(np.float64) / 255.0
    recons = recons.astype(np.float64)
    psnr = [peak_signal_noise_ratio(o, r, data_range=1.0) for o, r in zip(originals, recons)]
    ssim = [structural_similarity(o, r, data_range=1.0) for o, r in zip(originals, recons)]
    return np.array(psnr), np.array(ssim)


def evaluate(model: GammaVAE, data: PairData, batch_size: int) -> dict:
    psnr, ssim = image_metrics(data.images, reconstruct(model, data.images, batch_size)[0])
    return {"images": len(data), "psnr": float(psnr.mean()), "ssim": float(ssim.mean())}


def write_figure(path: str, model: GammaVAE, data: PairData, batch_size: int) -> None:
    """original | reconstruction | latent mean (nearest-upsampled) of a few test images."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    picks = np.unique(np.linspace(0, len(data) - 1, min(FIGURE_IMAGES, len(data))).round().astype(int))
    images = data.images[torch.from_numpy(picks)]
    recons, latents = reconstruct(model, images, batch_size)
    psnr, ssim = image_metrics(images, recons)
    factor = images.shape[-1] // latents.shape[-1]
    fig = Figure(figsize=(7.5, 2.6 * len(picks)))
    axes = fig.subplots(len(picks), 3, squeeze=False)
    for row, i in enumerate(picks):
        latent = np.kron(latents[row], np.ones((factor, factor)))
        panels = [(images[row].numpy() / 255.0, data.names[i]),
                  (recons[row], f"reconstruction\nPSNR {psnr[row]:.2f} dB, SSIM {ssim[row]:.3f}"),
                  (latent, f"latent mean E[z] {latents.shape[-1]}x{latents.shape[-1]}\n"
                           f"range {latents[row].min():.2f}..{latents[row].max():.2f}")]
        for ax, (picture, title) in zip(axes[row], panels):
            ax.imshow(picture, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    storage.write_bytes(path, buffer.getvalue())  # atomic (a temporary name renamed)


def write_evaluation(out: str, model: GammaVAE, splits: dict[str, PairData], batch_size: int,
                     epoch: int) -> None:
    """The end of a training run: evaluation.json (validation and test PSNR / SSIM of the model
    of ``epoch``) and reconstructions.png of test images in the run folder ``out``."""
    result = {"epoch": epoch, "checkpoint": storage.join(out, STABLE_NAME),
              "weights_digest": weights_digest(model),
              "validation": evaluate(model, splits["validation"], batch_size),
              "testing": evaluate(model, splits["testing"], batch_size)}
    write_figure(storage.join(out, "reconstructions.png"), model, splits["testing"], batch_size)
    storage.write_bytes(storage.join(out, EVALUATION_FILE), (json.dumps(result, indent=2) + "\n").encode())
    print(f"validation PSNR {result['validation']['psnr']:.2f} dB, SSIM "
          f"{result['validation']['ssim']:.4f}; test PSNR {result['testing']['psnr']:.2f} dB, "
          f"SSIM {result['testing']['ssim']:.4f}; autoencoder in {result['checkpoint']}")
