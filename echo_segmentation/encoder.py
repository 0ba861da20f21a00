"""The encoder of a trained segmentation network: the documented interface through which other
code uses this package's networks as feature extractors (semantic_diffusion_model's perceptual
loss, and evaluation.features here). Nothing outside this module looks inside a MONAI network.

    encoder_blocks(network)  the blocks of a MONAI UNet or DynUNet from the input down, the
                             bottleneck (the deepest block) last
    bottleneck_of(network)   that deepest block
    load_encoder(path)       an echo_segmentation checkpoint -> TrainedEncoder: its encoder blocks
                             (eval mode) and the intensity normalisation of its training images
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monai.networks.nets import DynUNet
from torch import nn

from .model import load_model


def encoder_blocks(network: nn.Module) -> list[nn.Module]:
    """The downsampling blocks of a MONAI UNet or DynUNet, from the input on, the bottleneck last."""
    if isinstance(network, DynUNet):
        return [network.input_block, *network.downsamples, network.bottleneck]
    blocks, level = [], getattr(network, "model", None)
    # UNet nests Sequential(down block, SkipConnection(next level), up block)
    while isinstance(level, nn.Sequential) and len(level) == 3 and hasattr(level[1], "submodule"):
        blocks.append(level[0])
        level = level[1].submodule
    if not blocks:
        raise ValueError(f"not a MONAI UNet or DynUNet: {type(network).__name__}")
    return [*blocks, level]


def bottleneck_of(network: nn.Module) -> nn.Module:
    """The deepest block of a MONAI UNet or DynUNet (its output: the lowest-resolution features)."""
    return encoder_blocks(network)[-1]


@dataclass
class TrainedEncoder:
    blocks: list[nn.Module]          # from the input down, in eval mode
    normalisation: dict[str, float]  # {"mean", "std"} of the training images (intensities 0..1)


def load_encoder(path: str | Path, device="cpu") -> TrainedEncoder:
    """The encoder of the segmentation network saved at ``path`` (UserError for another file)."""
    network, _, checkpoint = load_model(path, device)
    normalisation = checkpoint.get("normalisation") or {"mean": 0.0, "std": 1.0}
    return TrainedEncoder(encoder_blocks(network),
                          {k: float(normalisation[k]) for k in ("mean", "std")})
