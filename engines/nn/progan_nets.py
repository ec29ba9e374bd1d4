"""Progressive GAN networks (Karras et al., 2018): equalised learning rate, pixel norm, minibatch stddev.

Both networks hold every resolution's layers from the start and take the current `stage` (0 = the
smallest map) and fade-in `alpha` as inputs, as the paper's own implementation does with its level
of detail. So parameter shapes never change while the run grows: a checkpoint taken in the middle of
a fade loads into a freshly built engine, and resuming is exact. Layers of stages not reached yet
get no gradient and so do not move.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .gan_blocks import plan_resolutions


class EqualConv2d(nn.Module):
    """Conv with weights drawn N(0, 1) and scaled by He's constant at run time (equalised LR):
    Adam's per-weight step size then means the same relative change in every layer."""

    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = math.sqrt(2), lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in * kernel * kernel) * lr_mul
        self.lr_mul = lr_mul
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias * self.lr_mul, padding=self.padding)


class EqualLinear(nn.Module):
    """Linear layer with equalised LR; `lr_mul` < 1 slows it further (StyleGAN's mapping network)."""

    def __init__(self, d_in: int, d_out: int, gain: float = math.sqrt(2), lr_mul: float = 1.0,
                 bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((d_out,), float(bias_init) / lr_mul))
        self.scale = gain / math.sqrt(d_in) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each pixel's feature vector scaled to unit mean square (stops G's magnitudes escalating)."""
    return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append one feature map: the mean over features and pixels of the standard deviation across a
    group of images. A collapsed generator's batch has none, which D can then see."""
    b, c, h, w = x.shape
    g = min(group, b)
    while b % g:
        g -= 1
    y = x.view(g, -1, c, h, w)
    # the variance across the group written out: torch's var over a leading dim is several times slower on a CPU
    std = ((y - y.mean(0)).square().mean(0) + 1e-8).sqrt().mean((1, 2, 3))   # (B/g,)
    std = std.view(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, std], 1)


def ladder(size: int) -> list[int]:
    """Resolutions the run grows through: 4, 8, ... size (base 7 for 28 px, etc.)."""
    base, doublings = plan_resolutions(size)
    return [base * 2 ** i for i in range(doublings + 1)]


def _widths(size: int, width: int, max_width: int) -> list[int]:
    """Channels per resolution: `width` at the full size, doubling towards the smallest, capped."""
    n = len(ladder(size))
    return [min(width * 2 ** (n - 1 - i), max_width) for i in range(n)]


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class ProGenerator(nn.Module):
    def __init__(self, latent_dim: int, size: int, channels: int, width: int, max_width: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.sizes = ladder(size)
        ch = _widths(size, width, max_width)
        base = self.sizes[0]
        self.base = base
        self.input = EqualLinear(latent_dim, ch[0] * base * base, gain=math.sqrt(2) / 4)
        self.first = EqualConv2d(ch[0], ch[0], 3)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualConv2d(ch[i - 1], ch[i], 3), EqualConv2d(ch[i], ch[i], 3)])
            for i in range(1, len(self.sizes)))
        self.to_rgb = nn.ModuleList(EqualConv2d(c, channels, 1, gain=1.0) for c in ch)
        self.stage, self.alpha = len(self.sizes) - 1, 1.0

    def set_stage(self, stage: int, alpha: float) -> None:
        self.stage, self.alpha = int(stage), float(alpha)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = pixel_norm(z)
        h = pixel_norm(_lrelu(self.input(z).view(z.shape[0], -1, self.base, self.base)))
        h = pixel_norm(_lrelu(self.first(h)))
        previous = h
        for i in range(self.stage):
            previous = h
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            conv1, conv2 = self.blocks[i]
            h = pixel_norm(_lrelu(conv2(pixel_norm(_lrelu(conv1(h))))))
        out = self.to_rgb[self.stage](h)
        if self.stage > 0 and self.alpha < 1.0:  # fade in: the new layers' image over the old one enlarged
            old = F.interpolate(self.to_rgb[self.stage - 1](previous), scale_factor=2, mode="nearest")
            out = torch.lerp(old, out, self.alpha)
        return out


class ProDiscriminator(nn.Module):
    def __init__(self, size: int, channels: int, width: int, max_width: int):
        super().__init__()
        self.sizes = ladder(size)
        ch = _widths(size, width, max_width)
        base = self.sizes[0]
        self.from_rgb = nn.ModuleList(EqualConv2d(channels, c, 1) for c in ch)
        # blocks[i-1] takes resolution sizes[i] (ch[i]) down to sizes[i-1] (ch[i-1])
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualConv2d(ch[i], ch[i], 3), EqualConv2d(ch[i], ch[i - 1], 3)])
            for i in range(1, len(self.sizes)))
        self.final_conv = EqualConv2d(ch[0] + 1, ch[0], 3)
        self.final_linear = EqualLinear(ch[0] * base * base, ch[0])
        self.head = EqualLinear(ch[0], 1, gain=1.0)
        self.stage, self.alpha = len(self.sizes) - 1, 1.0

    def set_stage(self, stage: int, alpha: float) -> None:
        self.stage, self.alpha = int(stage), float(alpha)

    def _block(self, i: int, h: torch.Tensor) -> torch.Tensor:
        conv1, conv2 = self.blocks[i - 1]
        return F.avg_pool2d(_lrelu(conv2(_lrelu(conv1(h)))), 2)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        s = self.stage
        h = _lrelu(self.from_rgb[s](x))
        if s > 0:
            h = self._block(s, h)
            if self.alpha < 1.0:  # fade in: the new block's features over the old input layer's
                old = _lrelu(self.from_rgb[s - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(old, h, self.alpha)
            for i in range(s - 1, 0, -1):
                h = self._block(i, h)
        h = _lrelu(self.final_conv(minibatch_stddev(h)))
        h = _lrelu(self.final_linear(h.flatten(1)))
        return self.head(h).squeeze(1)
