"""Invertible layers shared by the flow families (RealNVP, Glow).

Every layer maps x -> (y, logdet) with `forward` and y -> x with `inverse`; logdet is
log|det dy/dx| per sample, shape (B,). The multi-scale wrapper factors out half the channels after
each squeeze and stops squeezing when the image cannot be halved any more (28 -> 14 -> 7 stops at 7).

Latents handed to the outside world are *standardised*: eps = (z - mu) / sigma for every factored
part, flattened and concatenated, so N(0, T^2) is the prior at temperature T whatever the priors are.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..measures import continuous_nll_to_bpd

LOG_2PI = math.log(2 * math.pi)


# --- preprocessing: uint8 <-> the flow's input space -------------------------------------------------

def dequantize(pixels: torch.Tensor, generator: torch.Generator | None = None, midpoint: bool = False,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 pixels -> x in (0, 1): (pixel + u) / 256 with u ~ U[0, 1), or u = 1/2 for exact encoding."""
    x = pixels.to(dtype)
    if midpoint:
        noise = torch.full_like(x, 0.5)
    else:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=dtype)
    return (x + noise) / 256.0


def quantize(x: torch.Tensor) -> torch.Tensor:
    """x in [0, 1] -> uint8 pixels: the bin of width 1/256 that x falls in (inverse of `dequantize`)."""
    return (x * 256.0).floor().clamp_(0, 255).to(torch.uint8)


class Preprocess(nn.Module):
    """x in (0, 1) -> the flow's input. 'logit': logit(a + (1 - 2a) x) spreads pixels over the real line
    (RealNVP); 'shift': x - 1/2 (Glow). Both are bijections whose log-det is part of the likelihood."""

    def __init__(self, kind: str = "logit", alpha: float = 0.05):
        super().__init__()
        if kind not in ("logit", "shift"):
            raise ValueError(f"unknown preprocessing {kind!r}")
        self.kind, self.alpha = kind, float(alpha)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "shift":
            return x - 0.5, x.new_zeros(x.shape[0])
        a = self.alpha
        s = a + (1 - 2 * a) * x
        y = torch.log(s) - torch.log1p(-s)
        logdet = (math.log(1 - 2 * a) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
        return y, logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "shift":
            return y + 0.5
        return (torch.sigmoid(y) - self.alpha) / (1 - 2 * self.alpha)


# --- layers --------------------------------------------------------------------------------------------

def squeeze(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 block becomes 4 channels (volume preserving)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, c * 4, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    x = x.reshape(b, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c // 4, h * 2, w * 2)


class ActNorm(nn.Module):
    """Per-channel affine y = (x + bias) * exp(log_scale), initialised from the first training batch so
    that y has zero mean and unit variance per channel (Glow). The `initialised` buffer is part of the
    state dict, so a resumed or reloaded run never re-initialises; the init itself uses no randomness."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.uint8))

    @torch.no_grad()
    def _initialise(self, x: torch.Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
        group = torch.distributed
        if group.is_available() and group.is_initialized() and group.get_world_size() > 1:
            # several training processes: the statistics of the combined batch (every process is at its
            # first step), so every process starts from the same initialisation as one process would
            z = x.double()
            sums = torch.stack([z.sum(dim=(0, 2, 3)), z.pow(2).sum(dim=(0, 2, 3)),
                                torch.full((x.shape[1],), float(x.numel() // x.shape[1]), dtype=torch.float64,
                                           device=x.device)])
            group.all_reduce(sums)
            m = sums[0] / sums[2]
            mean = m.view(1, -1, 1, 1).to(x.dtype)
            std = (sums[1] / sums[2] - m * m).clamp_min(0).sqrt().view(1, -1, 1, 1).to(x.dtype)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self.initialised.fill_(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialised):
            self._initialise(x)
        y = (x + self.bias) * torch.exp(self.log_scale)
        logdet = self.log_scale.sum() * x.shape[2] * x.shape[3]
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class InvConv1x1(nn.Module):
    """Invertible 1x1 convolution with W = P L (U + diag(sign * exp(log_s))) (Glow's LU form): the
    log-det is H*W*sum(log_s), O(C) instead of O(C^3). P and sign are fixed buffers."""

    def __init__(self, channels: int):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels, dtype=torch.float64))
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p.float())
        self.register_buffer("sign_s", torch.sign(s).float())
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower.float())
        self.upper = nn.Parameter(torch.triu(upper, 1).float())
        self.log_s = nn.Parameter(torch.log(torch.abs(s)).float())

    def weight(self) -> torch.Tensor:
        eye = torch.eye(self.perm.shape[0], device=self.perm.device, dtype=self.lower.dtype)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.weight()
        y = F.conv2d(x, w[:, :, None, None])
        logdet = self.log_s.sum() * x.shape[2] * x.shape[3]
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        w_inv = torch.linalg.inv(self.weight().double()).to(y.dtype)
        return F.conv2d(y, w_inv[:, :, None, None])


class CouplingNet(nn.Module):
    """The coupling's free-form function: 3x3 conv, residual blocks, zero-initialised 3x3 output conv
    (so every coupling starts as the identity, which keeps deep flows trainable from step one)."""

    def __init__(self, in_ch: int, out_ch: int, hidden: int, blocks: int):
        super().__init__()
        self.inp = nn.Conv2d(in_ch, hidden, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 1))
            for _ in range(blocks))
        self.out = nn.Conv2d(hidden, out_ch, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(F.relu(h))


def checkerboard_mask(h: int, w: int, parity: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((yy + xx + parity) % 2 == 0).float()[None, None]


def channel_mask(channels: int, parity: int) -> torch.Tensor:
    m = torch.zeros(1, channels, 1, 1)
    half = channels // 2
    if parity == 0:
        m[:, :half] = 1
    else:
        m[:, half:] = 1
    return m


class Coupling(nn.Module):
    """y = m*x + (1-m)*(x*exp(s(m*x)) + t(m*x)) for a fixed binary mask m (checkerboard or channel
    halves). Affine scales are tanh-bounded times a learnt per-channel factor, so exp(s) cannot blow
    up early in training; 'additive' drops s (volume preserving, log-det 0)."""

    def __init__(self, mask: torch.Tensor, channels: int, hidden: int, blocks: int, affine: bool = True):
        super().__init__()
        self.register_buffer("mask", mask)
        self.affine = affine
        self.net = CouplingNet(channels + 1, channels * (2 if affine else 1), hidden, blocks)
        self.scale_factor = nn.Parameter(torch.ones(1, channels, 1, 1))

    def _shift_and_log_scale(self, x_fixed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        # the mask itself as an extra input tells the net which positions it is allowed to look at
        mask_channel = self.mask[:, :1].expand(x_fixed.shape[0], 1, *x_fixed.shape[2:]).to(x_fixed.dtype)
        out = self.net(torch.cat([x_fixed, mask_channel], 1))
        if not self.affine:
            return out, None
        shift, raw = out.chunk(2, dim=1)
        return shift, self.scale_factor * torch.tanh(raw)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.mask.to(x.dtype)
        shift, log_scale = self._shift_and_log_scale(x * m)
        if log_scale is None:
            return x + (1 - m) * shift, x.new_zeros(x.shape[0])
        log_scale = log_scale * (1 - m)
        y = x * m + (1 - m) * (x * torch.exp(log_scale) + shift)
        return y, log_scale.flatten(1).sum(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        m = self.mask.to(y.dtype)
        shift, log_scale = self._shift_and_log_scale(y * m)
        if log_scale is None:
            return y - (1 - m) * shift
        log_scale = log_scale * (1 - m)
        return y * m + (1 - m) * ((y - shift) * torch.exp(-log_scale))


class FlowSequence(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y


# --- priors ---------------------------------------------------------------------------------------------

class GaussianPrior(nn.Module):
    """N(mu, sigma) for a factored-out block. 'standard': N(0, 1) (RealNVP). 'learned': mean and
    log-std from a zero-initialised conv of the conditioning half (Glow's split prior), or learnt
    constants for the top level (nothing to condition on)."""

    def __init__(self, channels: int, cond_channels: int, learned: bool):
        super().__init__()
        self.learned = learned
        self.cond_channels = cond_channels
        if learned and cond_channels:
            self.conv = nn.Conv2d(cond_channels, 2 * channels, 3, padding=1)
            nn.init.zeros_(self.conv.weight)
            nn.init.zeros_(self.conv.bias)
        elif learned:
            self.mean = nn.Parameter(torch.zeros(1, channels, 1, 1))
            self.log_std = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def params(self, cond: torch.Tensor | None, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.learned:
            return torch.zeros_like(like), torch.zeros_like(like)
        if self.cond_channels:
            mean, log_std = self.conv(cond).chunk(2, dim=1)
            return mean, log_std
        return self.mean.expand_as(like), self.log_std.expand_as(like)


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    eps = (z - mean) * torch.exp(-log_std)
    return (-0.5 * (eps ** 2 + LOG_2PI) - log_std).flatten(1).sum(1)


# --- the multi-scale architecture -------------------------------------------------------------------------

@dataclass(frozen=True)
class Scale:
    channels: int      # channels entering the level
    size: int          # spatial size entering the level
    squeeze: bool      # halve the resolution inside this level
    split: bool        # factor out half the channels at the end (False only for the last level)


def plan_scales(channels: int, size: int, levels: int, min_size: int = 4) -> list[Scale]:
    """Up to `levels` levels; a level squeezes only when the size is even and the result is at least
    `min_size`. The first level that cannot squeeze, or the last allowed one, is the final level."""
    plan: list[Scale] = []
    c, s = channels, size
    for i in range(levels):
        can_squeeze = s % 2 == 0 and s // 2 >= min_size
        last = i == levels - 1 or not can_squeeze
        if last:
            # the last level still squeezes when it can (Glow's final level runs at the coarsest size)
            plan.append(Scale(c, s, can_squeeze, False))
            break
        plan.append(Scale(c, s, True, True))
        c, s = c * 4 // 2, s // 2
    return plan


# (scale, channels after any squeeze, spatial size after squeeze) -> (layers before squeeze, layers after)
LevelBuilder = Callable[[Scale, int, int], tuple[list[nn.Module], list[nn.Module]]]


class MultiScaleFlow(nn.Module):
    """Preprocess, then per level: layers, squeeze, layers, factor out half (with its prior)."""

    def __init__(self, channels: int, size: int, levels: int, build: LevelBuilder, preprocess: Preprocess,
                 learned_prior: bool):
        super().__init__()
        self.preprocess = preprocess
        self.plan = plan_scales(channels, size, levels)
        self.pre, self.post, self.priors = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.shapes: list[tuple[int, int, int]] = []   # shape of each factored-out block, in order
        for scale in self.plan:
            c, s = (scale.channels * 4, scale.size // 2) if scale.squeeze else (scale.channels, scale.size)
            pre, post = build(scale, c, s)
            self.pre.append(FlowSequence(pre))
            self.post.append(FlowSequence(post))
            out_c = c // 2 if scale.split else c
            self.priors.append(GaussianPrior(out_c, c - out_c if scale.split else 0, learned_prior))
            self.shapes.append((out_c, s, s))
        self.dims = channels * size * size

    def latent_dim(self) -> int:
        return sum(c * h * w for c, h, w in self.shapes)

    def log_prob(self, x01: torch.Tensor) -> torch.Tensor:
        """log density (nats) of x in (0, 1)^D under the whole model, per sample."""
        _, log_p = self._forward(x01)
        return log_p

    def encode(self, x01: torch.Tensor) -> torch.Tensor:
        eps, _ = self._forward(x01)
        return eps

    def _forward(self, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, log_p = self.preprocess(x01)
        eps_parts = []
        for scale, pre, post, prior in zip(self.plan, self.pre, self.post, self.priors):
            h, ld = pre(h)
            log_p = log_p + ld
            if scale.squeeze:
                h = squeeze(h)
            h, ld = post(h)
            log_p = log_p + ld
            if scale.split:
                c = h.shape[1]
                z, h = h[:, : c // 2], h[:, c // 2:]
                mean, log_std = prior.params(h, z)
            else:
                z = h
                mean, log_std = prior.params(None, z)
            log_p = log_p + gaussian_log_prob(z, mean, log_std)
            eps_parts.append(((z - mean) * torch.exp(-log_std)).flatten(1))
        return torch.cat(eps_parts, 1), log_p

    def decode(self, eps: torch.Tensor) -> torch.Tensor:
        """Standardised latents (B, latent_dim) -> x in (0, 1) (unclamped)."""
        parts, start = [], 0
        for c, hh, ww in self.shapes:
            n = c * hh * ww
            parts.append(eps[:, start:start + n].reshape(-1, c, hh, ww))
            start += n
        h = None
        for i in reversed(range(len(self.plan))):
            scale, prior = self.plan[i], self.priors[i]
            e = parts[i]
            if scale.split:
                mean, log_std = prior.params(h, e)
                h = torch.cat([mean + torch.exp(log_std) * e, h], 1)
            else:
                mean, log_std = prior.params(None, e)
                h = mean + torch.exp(log_std) * e
            h = self.post[i].inverse(h)
            if scale.squeeze:
                h = unsqueeze(h)
            h = self.pre[i].inverse(h)
        return self.preprocess.inverse(h)


# --- engine helpers (the same for every flow family) ---------------------------------------------------

def bits_per_dim(flow: MultiScaleFlow, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-image discrete bits/dim bound from uniform dequantisation: -log2 p(x + u) / D + 8 for
    x + u on the 0..256 grid (the density on (0, 1) is rescaled by 256 per dimension)."""
    x01 = dequantize(pixels, generator)
    nll = -flow.log_prob(x01)
    dims = x01[0].numel()
    return continuous_nll_to_bpd(nll, dims, scale=1.0)


def _float64_copy(flow: MultiScaleFlow) -> MultiScaleFlow:
    twin = copy.deepcopy(flow).double()
    twin.eval()
    return twin


@torch.no_grad()
def encode_images(flow: MultiScaleFlow, images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, C) -> standardised latents (N, D), float32. Deterministic: the dequantisation
    mid-point, computed in float64 so that decode(encode(x)) == x exactly after quantisation."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError("encode expects uint8 images shaped (N, H, W, C)")
    c, s = flow.plan[0].channels, flow.plan[0].size
    if images.shape[1:] != (s, s, c):
        raise ValueError(f"this model encodes {s}x{s} images with {c} channel(s), not {images.shape[1:]}")
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device)
    twin = _float64_copy(flow)
    return twin.encode(dequantize(pixels, midpoint=True, dtype=torch.float64)).float()


@torch.no_grad()
def decode_latents(flow: MultiScaleFlow, latents: torch.Tensor, device: torch.device, exact: bool = True) -> np.ndarray:
    """Standardised latents (N, D) -> uint8 (N, H, W, C)."""
    if latents.ndim != 2 or latents.shape[1] != flow.latent_dim():
        raise ValueError(f"latents must be shaped (N, {flow.latent_dim()}), not {tuple(latents.shape)}")
    if exact:
        x01 = _float64_copy(flow).decode(latents.to(device, torch.float64))
    else:
        was_training = flow.training
        flow.eval()
        try:
            x01 = flow.decode(latents.to(device, torch.float32))
        finally:
            flow.train(was_training)
    x01 = torch.nan_to_num(x01, nan=0.5, posinf=1.0, neginf=0.0)
    return quantize(x01).permute(0, 2, 3, 1).cpu().numpy()
