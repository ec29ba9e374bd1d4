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


def resolution_plan(size: int, smallest: int = 7) -> list[int]:
    """Feature-map sizes from `size` down to <= `smallest` (each ceil(s / 2))."""
    sizes = [size]
    while sizes[-1] > smallest:
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def _act() -> nn.Module:
    return nn.SiLU()


def _kernel(size: int) -> int:
    # 4x4 stride-2 (pad 1) maps s <-> s/2 exactly for even s; 3x3 maps s <-> ceil(s/2) for odd s.
    return 4 if size % 2 == 0 else 3


def _widths(sizes: list[int], width: int) -> list[int]:
    """Channels at each resolution: `width` after the first halving, doubling, capped at 4x."""
    widths = [width]
    for _ in sizes[2:]:
        widths.append(min(widths[-1] * 2, width * 4))
    return widths


class ConvEncoder(nn.Module):
    """Image -> vector of `out_dim`: stride-2 convs down to <= 7 px, one 3x3 conv there, a linear head.

    Kept lean on purpose (no full-resolution 3x3 stacks): it has to train in minutes on a CPU.
    """

    def __init__(self, channels: int, size: int, width: int, out_dim: int):
        super().__init__()
        sizes = resolution_plan(size)
        widths = _widths(sizes, width) if len(sizes) > 1 else [width]
        layers: list[nn.Module] = []
        ch = channels
        for s, w in zip(sizes[:-1], widths):
            layers += [nn.Conv2d(ch, w, _kernel(s), 2, 1), _act()]
            ch = w
        layers += [nn.Conv2d(ch, widths[-1], 3, 1, 1), _act()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1] * sizes[-1] ** 2, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class ConvDecoder(nn.Module):
    """Vector of `in_dim` -> (B, out_channels, size, size), retracing ConvEncoder's sizes.

    Upsampling is nearest-neighbour to each exact size followed by a 3x3 conv, which avoids the
    checkerboard stripes that stride-2 transposed convs print into samples.
    """

    def __init__(self, in_dim: int, size: int, width: int, out_channels: int):
        super().__init__()
        sizes = resolution_plan(size)
        widths = _widths(sizes, width) if len(sizes) > 1 else [width]
        self.stem = nn.Sequential(nn.Linear(in_dim, widths[-1] * sizes[-1] ** 2), _act(),
                                  nn.Unflatten(1, (widths[-1], sizes[-1], sizes[-1])),
                                  nn.Conv2d(widths[-1], widths[-1], 3, 1, 1), _act())
        layers: list[nn.Module] = []
        ch = widths[-1]
        for i in range(len(sizes) - 2, -1, -1):  # back up through the encoder's sizes
            out = widths[i - 1] if i > 0 else max(4, width // 2)  # full resolution is costly: half the channels
            layers += [nn.Upsample(size=(sizes[i], sizes[i]), mode="nearest"), nn.Conv2d(ch, out, 3, 1, 1), _act()]
            ch = out
        layers.append(nn.Conv2d(ch, out_channels, 3, 1, 1))
        self.up = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.stem(z))


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
