"""The adversarial losses every GAN family shares: discriminator and generator losses for BCE
(non-saturating), hinge and Wasserstein, and the WGAN-GP gradient penalty."""

from __future__ import annotations

import torch
from torch.nn import functional as F

LOSSES = ("bce", "hinge", "wgan-gp")
# D "wins outright" when mean D(real) - mean D(fake) exceeds this (logits for bce: sigmoid 0.95 vs 0.05).
# The streaks of healthy, D-lr-x10 and frozen-G runs that chose divergence_steps (benchmarks/gan_thresholds.py)
# are in the README ("Why the recipes are what they are"). The wgan-gp gap is not calibrated.
SATURATION_GAP = {"bce": 6.0, "hinge": 4.0, "wgan-gp": 50.0}


def d_loss(kind: str, d_real: torch.Tensor, d_fake: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """The discriminator's (critic's) loss on its outputs for real and generated images."""
    if kind == "bce":
        target = torch.full_like(d_real, real_label)
        return (F.binary_cross_entropy_with_logits(d_real, target)
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    if kind == "hinge":
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
    return d_fake.mean() - d_real.mean()


def g_loss(kind: str, d_fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss on the discriminator's outputs for its images."""
    if kind == "bce":  # non-saturating: maximise log D(G(z))
        return F.softplus(-d_fake).mean()
    return -d_fake.mean()


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor, labels=None) -> torch.Tensor:
    """WGAN-GP: (|grad D| - 1)^2 at random points between real and generated images."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(D(mixed, labels).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
