"""A U-Net for small images (16-64 px), in the shape DDPM made standard (Ho et al. 2020):
residual blocks that receive a timestep (and optionally class) embedding, self-attention at the
low resolutions, skip connections between the matching down and up levels.

Sized by `channel_mults`: one level per entry; the feature map halves between levels while its
side is even and above 4, so 28 px runs 28 -> 14 -> 7 and odd sizes simply stop shrinking.
`patch` > 1 folds patch x patch pixel blocks into channels first (pixel unshuffle) and unfolds them
at the end, so the whole network runs at size / patch: 4x less compute per level at patch 2, which
is what makes CPU training of 28 px images a matter of minutes.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .conditioning import embed_classes


def parse_mults(text: str) -> tuple[int, ...]:
    """'1,2,2' -> (1, 2, 2); ValueError with a readable message otherwise."""
    try:
        mults = tuple(int(p) for p in str(text).replace(" ", "").split(",") if p)
    except ValueError:
        raise ValueError(f"channel multipliers must be whole numbers separated by commas, like 1,2,2; got {text!r}") from None
    if not 1 <= len(mults) <= 6 or any(not 1 <= m <= 16 for m in mults):
        raise ValueError(f"channel multipliers need 1 to 6 entries between 1 and 16; got {text!r}")
    return mults


def level_sizes(size: int, levels: int) -> list[int]:
    """Feature-map side at each level."""
    sizes = [size]
    for _ in range(levels - 1):
        s = sizes[-1]
        sizes.append(s // 2 if s % 2 == 0 and s > 4 else s)
    return sizes


def groups_for(channels: int) -> int:
    """GroupNorm groups: up to 32, dividing the channel count."""
    for g in (32, 16, 8, 4, 2, 1):
        if channels % g == 0 and channels // g >= 2 or g == 1:
            return g
    return 1


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal features of integer timesteps (Vaswani et al.), (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    emb = torch.cat([angles.cos(), angles.sin()], dim=1)
    return F.pad(emb, (0, dim % 2))


class ResBlock(nn.Module):
    def __init__(self, ch_in: int, ch_out: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups_for(ch_in), ch_in)
        self.conv1 = nn.Conv2d(ch_in, ch_out, 3, padding=1)
        # scale and shift from the embedding (FiLM): conditions every block more strongly than a plain add
        self.emb = nn.Linear(emb_dim, 2 * ch_out)
        self.norm2 = nn.GroupNorm(groups_for(ch_out), ch_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(ch_out, ch_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity: deep nets train from step one
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(ch_in, ch_out, 1) if ch_in != ch_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.heads = heads if channels % heads == 0 else 1
        self.norm = nn.GroupNorm(groups_for(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        attn = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.out(attn.transpose(-1, -2).reshape(b, c, h, w))


class Level(nn.Module):
    """The blocks of one resolution (res blocks, each optionally followed by attention)."""

    def __init__(self, ch_ins: list[int], ch_out: int, emb_dim: int, dropout: float, attention: bool):
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(c, ch_out, emb_dim, dropout) for c in ch_ins)
        self.attns = nn.ModuleList(SelfAttention(ch_out) if attention else nn.Identity() for _ in ch_ins)


class UNet(nn.Module):
    def __init__(self, size: int, channels: int, base_channels: int = 32, channel_mults: tuple[int, ...] = (1, 2, 2),
                 num_res_blocks: int = 1, attention_resolution: int = 8, dropout: float = 0.1,
                 num_classes: int = 0, patch: int = 1):
        super().__init__()
        if patch < 1 or size % patch:
            raise ValueError(f"image size {size} is not divisible by the patch size {patch}")
        self.patch = patch
        size, channels = size // patch, channels * patch * patch
        self.num_classes = num_classes
        emb_dim = 4 * base_channels
        self.base_channels = base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # one extra row: the "no label" class used for label dropout and unconditional sampling
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes > 0 else None
        self.sizes = level_sizes(size, len(channel_mults))
        widths = [base_channels * m for m in channel_mults]
        self.stem = nn.Conv2d(channels, base_channels, 3, padding=1)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = [base_channels]
        ch = base_channels
        for i, (w, s) in enumerate(zip(widths, self.sizes)):
            ins = [ch] + [w] * (num_res_blocks - 1)
            self.down.append(Level(ins, w, emb_dim, dropout, 0 < attention_resolution and s <= attention_resolution))
            ch = w
            skips += [w] * num_res_blocks
            last = i == len(widths) - 1
            halves = not last and self.sizes[i + 1] < s
            self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1) if halves else nn.Identity())
            if not last:
                skips.append(ch)

        self.mid1 = ResBlock(ch, ch, emb_dim, dropout)
        self.mid_attn = SelfAttention(ch) if attention_resolution > 0 else nn.Identity()
        self.mid2 = ResBlock(ch, ch, emb_dim, dropout)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(widths))):
            w, s = widths[i], self.sizes[i]
            ins = []
            for _ in range(num_res_blocks + 1):
                ins.append(ch + skips.pop())
                ch = w
            self.up.append(Level(ins, w, emb_dim, dropout, 0 < attention_resolution and s <= attention_resolution))
            doubles = i > 0 and self.sizes[i - 1] > s
            self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                               nn.Conv2d(ch, ch, 3, padding=1)) if doubles else nn.Identity())
        self.head = nn.Sequential(nn.GroupNorm(groups_for(ch), ch), nn.SiLU(), nn.Conv2d(ch, channels, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, H, W), t (B,) integer timesteps, labels (B,) with num_classes meaning 'no label'."""
        emb = self.time_mlp(timestep_embedding(t, self.base_channels))
        if self.class_emb is not None:
            if labels is None:
                labels = torch.full((x.shape[0],), self.num_classes, device=x.device, dtype=torch.long)
            emb = emb + embed_classes(self.class_emb, labels)  # indices or weights (B, classes + 1)
        if self.patch > 1:
            x = F.pixel_unshuffle(x, self.patch)
        h = self.stem(x)
        skips = [h]
        for level, down in zip(self.down, self.downsample):
            for block, attn in zip(level.blocks, level.attns):
                h = attn(block(h, emb))
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
            elif level is not self.down[-1]:
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for level, up in zip(self.up, self.upsample):
            for block, attn in zip(level.blocks, level.attns):
                h = attn(block(torch.cat([h, skips.pop()], dim=1), emb))
            h = up(h)
        h = self.head(h)
        return F.pixel_shuffle(h, self.patch) if self.patch > 1 else h
