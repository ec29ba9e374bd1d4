"""Cheap sample-diversity measures for live training diagnostics (any family can use them).

Images are mapped into a small fixed feature space: a two-layer random conv projection (weights
drawn once from a seeded local generator, never trained, never checkpointed) of the image shrunk
to 16 px. Random conv features keep enough of the layout that distances between images are
meaningful, and they cost a fraction of a millisecond per image. Nothing here touches the global
RNG, so it can run inside a training loop without changing what the run does.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

PROBE_SIZE = 16


class RandomFeatures:
    """image batch in [-1, 1] (B, C, H, W) -> (B, D) features, the same for every run with this seed."""

    def __init__(self, channels: int, seed: int = 1234, device: torch.device | str = "cpu"):
        gen = torch.Generator().manual_seed(seed)
        self.w1 = (torch.randn(16, channels, 3, 3, generator=gen) * (2.0 / (channels * 9)) ** 0.5).to(device)
        self.w2 = (torch.randn(32, 16, 3, 3, generator=gen) * (2.0 / (16 * 9)) ** 0.5).to(device)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if x.shape[-1] != PROBE_SIZE:
            x = F.interpolate(x, size=(PROBE_SIZE, PROBE_SIZE), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > PROBE_SIZE)
        h = F.leaky_relu(F.conv2d(x, self.w1, stride=2, padding=1), 0.2)
        h = F.leaky_relu(F.conv2d(h, self.w2, stride=2, padding=1), 0.2)
        # pixels at 8 px keep brightness and position, which the random convs blur
        pixels = F.adaptive_avg_pool2d(x, 8).flatten(1)
        f = torch.cat([h.flatten(1) / h[0].numel() ** 0.5, pixels / pixels.shape[1] ** 0.5], 1)
        return f


def pairwise_distances(features: torch.Tensor) -> torch.Tensor:
    return torch.cdist(features.double(), features.double())


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean distance over distinct pairs (independent of the batch size in expectation)."""
    n = features.shape[0]
    if n < 2:
        return float("nan")
    d = pairwise_distances(features)
    return float(d.sum() / (n * (n - 1)))


def near_duplicate_share(features: torch.Tensor, radius: float) -> float:
    """Share of the batch whose nearest other member is closer than `radius`."""
    n = features.shape[0]
    if n < 2:
        return 0.0
    d = pairwise_distances(features)
    d.fill_diagonal_(float("inf"))
    return float((d.min(1).values < radius).double().mean())


def nearest_mean(features: torch.Tensor, class_means: torch.Tensor) -> torch.Tensor:
    """Index of the nearest class mean for each row (a cheap stand-in for a trained classifier)."""
    return torch.cdist(features.double(), class_means.double()).argmin(1)
