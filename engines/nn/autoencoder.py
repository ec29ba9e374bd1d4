"""Encoder/decoder blocks shared by the autoencoder families (AE, VAE, cVAE).

Both map between images (B, C, S, S) and flat vectors, for any S from 8 to 256 (odd sizes too):
the conv encoder halves the resolution with stride-2 convs until it is 7 px or less, and the
decoder retraces exactly the same sizes with transposed convs whose kernel suits each size's
parity, so no size needs special casing. The MLP pair is the classic fully connected VAE of Kingma & Welling (2014), kept
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
    return nn.ReLU()


def _kernel(size: int) -> int:
    # 4x4 stride-2 (pad 1) maps s <-> s/2 exactly for even s; 3x3 maps s <-> ceil(s/2) for odd s.
    return 4 if size % 2 == 0 else 3


def _widths(sizes: list[int], width: int) -> list[int]:
    """Channels after each halving: `width`, then doubling, capped at 4x."""
    widths = [width]
    for _ in sizes[2:]:
        widths.append(min(widths[-1] * 2, width * 4))
    return widths


def _join(flat: torch.Tensor, extra: torch.Tensor | None, extra_dim: int) -> torch.Tensor:
    """Features with the side input appended (zeros when the encoder has one but none is given)."""
    if extra_dim == 0:
        return flat
    if extra is None:
        extra = flat.new_zeros(flat.shape[0], extra_dim)
    return torch.cat([flat, extra.to(flat.dtype)], dim=1)


class ConvEncoder(nn.Module):
    """Image -> vector of `out_dim`: stride-2 convs down to <= 7 px, then a fully connected hidden layer.

    The hidden layer matters: it mixes the whole image before the latent (tried without it: the
    decoded prior samples came out as fragments of strokes rather than digits).
    """

    def __init__(self, channels: int, size: int, width: int, out_dim: int, hidden: int = 256, extra_dim: int = 0):
        super().__init__()
        sizes = resolution_plan(size)
        widths = _widths(sizes, width)
        self.extra_dim = extra_dim  # a side input (e.g. a one-hot class) joined before the hidden layer
        layers: list[nn.Module] = []
        ch = channels
        for s, w in zip(sizes[:-1], widths):
            layers += [nn.Conv2d(ch, w, _kernel(s), 2, 1), _act()]
            ch = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(ch * sizes[-1] ** 2 + extra_dim, hidden), _act(),
                                  nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(_join(self.features(x).flatten(1), extra, self.extra_dim))


class ConvDecoder(nn.Module):
    """Vector of `in_dim` -> (B, out_channels, size, size), mirroring ConvEncoder's sizes exactly."""

    def __init__(self, in_dim: int, size: int, width: int, out_channels: int, hidden: int = 256):
        super().__init__()
        sizes = resolution_plan(size)
        widths = _widths(sizes, width)
        ch = widths[len(sizes) - 2] if len(sizes) > 1 else width
        self.stem = nn.Sequential(nn.Linear(in_dim, hidden), _act(), nn.Linear(hidden, ch * sizes[-1] ** 2), _act(),
                                  nn.Unflatten(1, (ch, sizes[-1], sizes[-1])))
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 2, -1, -1):  # back up through the encoder's sizes
            last = i == 0
            out = out_channels if last else widths[i - 1]
            layers.append(nn.ConvTranspose2d(ch, out, _kernel(sizes[i]), 2, 1))
            if not last:
                layers.append(_act())
            ch = out
        if len(sizes) == 1:  # already small: no resampling, just a conv to the output channels
            layers.append(nn.Conv2d(ch, out_channels, 3, 1, 1))
        self.up = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.stem(z))


class MLPEncoder(nn.Module):
    """Image -> vector through fully connected layers (no notion of neighbouring pixels)."""

    def __init__(self, channels: int, size: int, hidden: int, out_dim: int, extra_dim: int = 0):
        super().__init__()
        self.extra_dim = extra_dim
        self.net = nn.Sequential(nn.Linear(channels * size * size + extra_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(_join(x.flatten(1), extra, self.extra_dim))


class MLPDecoder(nn.Module):
    def __init__(self, in_dim: int, size: int, hidden: int, out_channels: int):
        super().__init__()
        self.shape = (out_channels, size, size)
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_channels * size * size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)
