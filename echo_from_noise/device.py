"""The compute device (--device) and precision (--precision) of every program."""
from __future__ import annotations

import torch

from .errors import UserError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None = plain fp32).

    auto = bf16 on GPUs that support it, else fp32 (CPU autocast gains nothing here).
    """
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[precision]


def pick_device(name: str) -> torch.device:
    """--device: 'auto', 'cpu', 'cuda' or 'cuda:N' (a missing GPU is a one-line error)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA GPU is available here")
    return device
