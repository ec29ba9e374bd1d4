"""Building blocks shared by the GAN recipes: generators, discriminators, self-attention, DiffAugment.

Every network takes its options explicitly (spectral norm, batch norm, attention resolutions,
number of classes) so one module covers vanilla, DCGAN, conditional, WGAN-GP, SN-GAN and SAGAN.
Conditioning: the generator concatenates a learned class embedding to z; the discriminator uses a
projection head (Miyato & Koyama, 2018): score = head(h) + <embed(y), pooled h>.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .conditioning import embed_classes


def plan_resolutions(size: int) -> tuple[int, int]:
    """(base, doublings): the smallest feature map and how many 2x steps reach `size`."""
    base, doublings = size, 0
    while base % 2 == 0 and base > 7:
        base //= 2
        doublings += 1
    return base, doublings


def attention_maps(size: int) -> tuple[int, ...]:
    """The feature-map sizes where ConvGenerator or ConvDiscriminator place self-attention at `size` px:
    every map from base up to half the image size (the image size itself when there is no doubling)."""
    base, doublings = plan_resolutions(size)
    return tuple(base * 2 ** i for i in range(doublings)) or (size,)


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) weights, as in the DCGAN paper (spectral-normed layers keep PyTorch's default)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and not hasattr(module, "parametrizations"):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(layer) if on else layer


class SelfAttention(nn.Module):
    """SAGAN's non-local block; gamma starts at 0 so the block begins as the identity."""

    def __init__(self, channels: int, spectral: bool):
        super().__init__()
        inner = max(channels // 8, 1)
        self.query = _sn(nn.Conv2d(channels, inner, 1, bias=False), spectral)
        self.key = _sn(nn.Conv2d(channels, inner, 1, bias=False), spectral)
        self.value = _sn(nn.Conv2d(channels, max(channels // 2, 1), 1, bias=False), spectral)
        self.out = _sn(nn.Conv2d(max(channels // 2, 1), channels, 1, bias=False), spectral)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)     # (B, N, c')
        k = self.key(x).flatten(2).transpose(1, 2)       # (B, N, c')
        v = self.value(x).flatten(2).transpose(1, 2)     # (B, N, c/2)
        # softmax(q k^T) v without SAGAN's missing 1/sqrt(c') (scale=1): the fused kernel on GPUs
        # (one head as a 4-D batch: ONNX's attention takes 4-D query, key and value only)
        y = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], scale=1.0)[:, 0]
        y = y.transpose(1, 2).reshape(b, -1, h, w)
        return x + self.gamma * self.out(y)


class ConvGenerator(nn.Module):
    """DCGAN-shaped: a transposed conv to base x base, then 2x transposed convs up to the image size."""

    def __init__(self, latent_dim: int, width: int, size: int, channels: int, num_classes: int = 0,
                 spectral: bool = False, attention_at: tuple[int, ...] = ()):
        super().__init__()
        base, doublings = plan_resolutions(size)
        self.latent_dim = latent_dim
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        ch = width * min(2 ** max(doublings - 1, 0), 8)
        layers: list[nn.Module] = [_sn(nn.ConvTranspose2d(in_dim, ch, base, 1, 0, bias=False), spectral),
                                   nn.BatchNorm2d(ch), nn.ReLU(True)]
        res = base
        if res in attention_at:
            layers.append(SelfAttention(ch, spectral))
        for i in range(doublings):
            res *= 2
            if i == doublings - 1:
                layers.append(_sn(nn.ConvTranspose2d(ch, channels, 4, 2, 1), spectral))
            else:
                nxt = max(width, ch // 2)
                layers += [_sn(nn.ConvTranspose2d(ch, nxt, 4, 2, 1, bias=False), spectral),
                           nn.BatchNorm2d(nxt), nn.ReLU(True)]
                ch = nxt
                if res in attention_at:
                    layers.append(SelfAttention(ch, spectral))
        if doublings == 0:
            layers.append(_sn(nn.Conv2d(ch, channels, 3, 1, 1), spectral))
        layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, embed_classes(self.embed, labels)], 1)
        return self.net(z[:, :, None, None])


class ConvDiscriminator(nn.Module):
    """Strided 4x4 convs halving the size, then one conv over the whole base x base map."""

    def __init__(self, width: int, size: int, channels: int, num_classes: int = 0, spectral: bool = False,
                 batch_norm: bool = True, attention_at: tuple[int, ...] = ()):
        super().__init__()
        base, doublings = plan_resolutions(size)
        layers: list[nn.Module] = []
        ch_in, ch, res = channels, width, size
        if res in attention_at and doublings == 0:
            layers.append(SelfAttention(ch_in, spectral))
        for i in range(doublings):
            # no batch norm on the input layer (DCGAN); the bias is redundant where batch norm follows
            norm = batch_norm and i > 0
            layers.append(_sn(nn.Conv2d(ch_in, ch, 4, 2, 1, bias=not norm), spectral))
            if norm:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2, True))
            res //= 2
            if res in attention_at:
                layers.append(SelfAttention(ch, spectral))
            ch_in, ch = ch, min(ch * 2, width * 8)
        self.features = nn.Sequential(*layers)
        self.head = _sn(nn.Conv2d(ch_in, 1, base, 1, 0), spectral)
        self.embed = _sn(nn.Embedding(num_classes, ch_in), spectral) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.head(h).flatten(1).mean(1)
        if self.embed is not None:
            out = out + (self.embed(labels) * h.sum((2, 3))).sum(1)
        return out


class MLPGenerator(nn.Module):
    """The vanilla GAN generator: two hidden fully connected layers."""

    def __init__(self, latent_dim: int, hidden: int, size: int, channels: int, num_classes: int = 0,
                 spectral: bool = False):
        super().__init__()
        self.latent_dim, self.shape = latent_dim, (channels, size, size)
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.net = nn.Sequential(
            _sn(nn.Linear(in_dim, hidden), spectral), nn.LeakyReLU(0.2, True),
            _sn(nn.Linear(hidden, hidden), spectral), nn.LeakyReLU(0.2, True),
            _sn(nn.Linear(hidden, channels * size * size), spectral), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, embed_classes(self.embed, labels)], 1)
        return self.net(z).view(-1, *self.shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, hidden: int, size: int, channels: int, num_classes: int = 0, spectral: bool = False):
        super().__init__()
        self.features = nn.Sequential(
            nn.Flatten(), _sn(nn.Linear(channels * size * size, hidden), spectral), nn.LeakyReLU(0.2, True),
            _sn(nn.Linear(hidden, hidden), spectral), nn.LeakyReLU(0.2, True))
        self.head = _sn(nn.Linear(hidden, 1), spectral)
        self.embed = _sn(nn.Embedding(num_classes, hidden), spectral) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.head(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(1)
        return out


@torch.no_grad()
def ema_update(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * live for parameters; buffers (batch-norm stats) are copied."""
    for p_ema, p in zip(ema.parameters(), live.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), live.buffers()):
        b_ema.copy_(b)


# --- DiffAugment (Zhao et al., 2020): the same random augmentation on real and fake images -------------
# Draws use the global torch RNG on purpose: it is only called from train_step, whose RNG is checkpointed.

DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")


def parse_policy(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in parts if p not in DIFFAUGMENT_POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown[0]!r}; use a comma list of "
                         f"{', '.join(DIFFAUGMENT_POLICIES)}")
    return parts


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    """x in [-1, 1], (B, C, H, W). Differentiable in x, so G learns through the augmentation."""
    for p in policy:
        x = _AUGMENTS[p](x)
    return x


def _color(x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    x = x + (torch.rand(b, 1, 1, 1, device=x.device) - 0.5)                 # brightness
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device) * 2) + mean   # saturation (no-op on grey)
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device) + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sy, sx = max(int(h * ratio + 0.5), 1), max(int(w * ratio + 0.5), 1)
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy + sy).expand(b, h, w)
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx + sx).expand(b, h, w)
    padded = F.pad(x, [sx, sx, sy, sy])  # zeros: mid-grey in [-1, 1]
    batch = torch.arange(b, device=x.device)[:, None, None].expand(b, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a (ratio*H x ratio*W) square at a random place (it may hang over the border)."""
    b, _, h, w = x.shape
    ch, cw = max(int(h * ratio + 0.5), 1), max(int(w * ratio + 0.5), 1)
    top = torch.randint(0, h, (b, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w, (b, 1, 1), device=x.device) - cw // 2
    yy = torch.arange(h, device=x.device)[None, :, None]
    xx = torch.arange(w, device=x.device)[None, None, :]
    inside = (yy >= top) & (yy < top + ch) & (xx >= left) & (xx < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_AUGMENTS = {"color": _color, "translation": _translation, "cutout": _cutout}
