"""Langevin dynamics on an energy-based model's energy, with some pixels held fixed: the EBM's way
to inpaint (known pixels clamped, the rest sampled) and to denoise (descent from the noisy image)."""

from __future__ import annotations

import torch

from .common import ProgressFn, check_progress


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
    net = engine.net
    energy = energy_of(engine)
    clip = float(getattr(engine.config, "sgld_grad_clip", 0.0))
    flags = [(p, p.requires_grad) for p in net.parameters()]
    was = net.training
    net.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        x = x.detach().clone()
        if known is not None:
            x = known * values + (1 - known) * x
        for i in range(int(steps)):
            x.requires_grad_(True)
            with torch.enable_grad():
                grad, = torch.autograd.grad(energy(x).sum(), x)
            if clip > 0:
                grad = grad.clamp(-clip, clip)
            with torch.no_grad():
                x = x - step_size * grad
                if noise > 0:
                    x = x + noise * torch.randn(x.shape, generator=generator).to(x.device)
                x = x.clamp(-1, 1)
                if known is not None:
                    x = known * values + (1 - known) * x
            check_progress(progress, i + 1, int(steps))
        return x.detach()
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        net.train(was)
