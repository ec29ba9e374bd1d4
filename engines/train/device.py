"""Where a run trains: the device asked for, and the precision that is safe there."""

from __future__ import annotations

import torch

from ..families.base import Engine
from .run import RunError
from .settings import DEVICES


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RunError("CUDA was asked for but no CUDA GPU is available; use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RunError("MPS was asked for but is not available on this machine; use --device cpu or auto")
    if name not in DEVICES:
        raise RunError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    return torch.device(name)


def resolve_precision(requested: str, device: torch.device, engine: Engine) -> str:
    """bf16 only where it helps and is safe: CUDA with bf16 support, and a family that allows it."""
    if requested == "fp32" or device.type != "cuda" or not engine.mixed_precision_ok:
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
