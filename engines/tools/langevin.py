"""Langevin dynamics on an energy-based model's energy, with some pixels held fixed: the EBM's way
to inpaint (known pixels clamped, the rest sampled) and to denoise (descent from the noisy image)."""

from __future__ import annotations

import torch

from .common import ProgressFn


def is_ebm(cls: type) -> bool:
    try:
        from ..families.ebm import EBMEngine
    except ImportError:
        return False
    return issubclass(cls, EBMEngine)


def energy_of(engine):
    """x -> energy per image (B,): the family's energy() (class-conditional runs sum the classes out)
    when it has one, else its network's output."""
    fn = getattr(engine, "energy", None)
    return fn if callable(fn) else engine.net


def clamped_langevin(engine, x: torch.Tensor, steps: int, step_size: float, noise: float,
                     known: torch.Tensor | None = None, values: torch.Tensor | None = None,
                     generator: torch.Generator | None = None, progress: ProgressFn | None = None) -> torch.Tensor:
    """x <- x - step * clip(dE/dx) + noise * N(0, 1) in [-1, 1]; where `known` is 1, x is reset to
    `values` after every step. Uses the run's gradient clip; the weights get no gradients."""
    from ..families.ebm import langevin
    net = engine.net
    was = net.training
    net.eval()
    try:
        return langevin(energy_of(engine), x, int(steps), step_size, noise,
                        float(getattr(engine.config, "sgld_grad_clip", 0.0)), generator=generator,
                        progress=progress, params=net.parameters(), known=known, values=values)
    finally:
        net.train(was)
