"""Encoder/decoder blocks shared by the autoencoder families (AE, VAE, cVAE).

Both map between images (B, C, S, S) and flat vectors, for any S from 8 to 256 (odd sizes too):
the conv encoder halves the resolution with stride-2 convs until it is 7 px or less, and the
decoder retraces exactly the same sizes by upsampling to each recorded size, so no size needs
special casing. The MLP pair is the classic fully connected VAE of Kingma & Welling (2014), kept
as a baseline that shows what convolutions buy.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def resolution_plan(size: int, smallest: int = 7) -> list[int]:
    """Feature-map sizes from `size` down to <= `smallest` (each ceil(s / 2))."""
    sizes = [size]
    while sizes[-1] > smallest:
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def _act() -> nn.Module:
    return nn.SiLU()


class ConvEncoder(nn.Module):
    """Image -> vector of `out_dim`. Channels double per halving, up to 4x `width`."""

    def __init__(self, channels: int, size: int, width: int, out_dim: int):
        super().__init__()
        sizes = resolution_plan(size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), _act()]
        ch = width
        for _ in sizes[1:]:
            nxt = min(ch * 2, width * 4)
            layers += [nn.Conv2d(ch, nxt, 3, 2, 1), _act(), nn.Conv2d(nxt, nxt, 3, 1, 1), _act()]
            ch = nxt
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch * sizes[-1] ** 2, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class ConvDecoder(nn.Module):
    """Vector of `in_dim` -> (B, out_channels, size, size), mirroring ConvEncoder's sizes."""

    def __init__(self, in_dim: int, size: int, width: int, out_channels: int):
        super().__init__()
        sizes = resolution_plan(size)
        widths = [width]
        for _ in sizes[1:]:
            widths.append(min(widths[-1] * 2, width * 4))
        self.sizes, self.widths = sizes, widths
        self.stem = nn.Sequential(nn.Linear(in_dim, widths[-1] * sizes[-1] ** 2), _act())
        self.ups = nn.ModuleList()
        for i in range(len(sizes) - 1, 0, -1):
            self.ups.append(nn.Sequential(nn.Conv2d(widths[i], widths[i - 1], 3, 1, 1), _act(),
                                          nn.Conv2d(widths[i - 1], widths[i - 1], 3, 1, 1), _act()))
        self.out = nn.Conv2d(width, out_channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z).view(z.shape[0], self.widths[-1], self.sizes[-1], self.sizes[-1])
        for block, target in zip(self.ups, reversed(self.sizes[:-1])):
            h = block(F.interpolate(h, size=(target, target), mode="nearest"))
        return self.out(h)


class MLPEncoder(nn.Module):
    """Image -> vector through fully connected layers (no notion of neighbouring pixels)."""

    def __init__(self, channels: int, size: int, hidden: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    def __init__(self, in_dim: int, size: int, hidden: int, out_channels: int):
        super().__init__()
        self.shape = (out_channels, size, size)
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_channels * size * size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)
