"""BigGAN networks (Brock et al., 2019), small: residual blocks, class-conditional batch norm fed by a
shared class embedding plus a chunk of z per block (hierarchical latents), spectral norm in both
nets, and a projection discriminator.

Unconditional runs keep the hierarchical z: each block's batch-norm gains and biases then come from
its z chunk alone.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .conditioning import embed_classes
from .gan_blocks import SelfAttention, plan_resolutions


def _sn(layer: nn.Module) -> nn.Module:
    return spectral_norm(layer)


def chunk_sizes(latent_dim: int, blocks: int) -> list[int]:
    """z split into blocks + 1 chunks (the first feeds the input layer), as evenly as it divides."""
    parts = blocks + 1
    base, extra = divmod(latent_dim, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class ConditionalBatchNorm(nn.Module):
    """Batch norm without its own affine; gain (1 + .) and bias are linear in the conditioning vector."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = _sn(nn.Linear(cond_dim, channels, bias=False))
        self.bias = _sn(nn.Linear(cond_dim, channels, bias=False))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * (1 + self.gain(cond)[:, :, None, None]) + self.bias(cond)[:, :, None, None]


class GBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, cond_dim: int):
        super().__init__()
        self.bn1 = ConditionalBatchNorm(c_in, cond_dim)
        self.conv1 = _sn(nn.Conv2d(c_in, c_out, 3, padding=1))
        self.bn2 = ConditionalBatchNorm(c_out, cond_dim)
        self.conv2 = _sn(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = _sn(nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


def attention_maps(size: int) -> tuple[int, ...]:
    """The feature-map sizes where BigGenerator (after a block) or BigDiscriminator (after a block) place
    self-attention at `size` px: base up to the image size; none when there is no block."""
    base, doublings = plan_resolutions(size)
    return tuple(base * 2 ** i for i in range(doublings + 1)) if doublings else ()


class BigGenerator(nn.Module):
    def __init__(self, latent_dim: int, width: int, size: int, channels: int, num_classes: int,
                 embed_dim: int, attention_at: tuple[int, ...] = ()):
        super().__init__()
        base, doublings = plan_resolutions(size)
        self.base, self.latent_dim = base, latent_dim
        self.chunks = chunk_sizes(latent_dim, doublings)
        self.shared = nn.Embedding(num_classes, embed_dim) if num_classes else None
        cond_extra = embed_dim if num_classes else 0
        widths = [width * min(2 ** (doublings - i), 8) for i in range(doublings + 1)]
        self.input = _sn(nn.Linear(self.chunks[0], widths[0] * base * base))
        self.blocks = nn.ModuleList(GBlock(widths[i], widths[i + 1], self.chunks[i + 1] + cond_extra)
                                    for i in range(doublings))
        self.attention = nn.ModuleDict({str(i): SelfAttention(widths[i + 1], True)
                                        for i in range(doublings) if base * 2 ** (i + 1) in attention_at})
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out = _sn(nn.Conv2d(widths[-1], channels, 3, padding=1))
        self.widths = widths

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        zs = torch.split(z, self.chunks, dim=1)
        h = self.input(zs[0]).view(z.shape[0], -1, self.base, self.base)
        y = embed_classes(self.shared, labels) if self.shared is not None else None
        for i, block in enumerate(self.blocks):
            cond = zs[i + 1] if y is None else torch.cat([y, zs[i + 1]], 1)
            h = block(h, cond)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.out(F.relu(self.out_bn(h))))


class DBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, first: bool):
        super().__init__()
        self.first = first
        self.conv1 = _sn(nn.Conv2d(c_in, c_out, 3, padding=1))
        self.conv2 = _sn(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = _sn(nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        return h + F.avg_pool2d(self.skip(x), 2)


class BigDiscriminator(nn.Module):
    def __init__(self, width: int, size: int, channels: int, num_classes: int, attention_at: tuple[int, ...] = ()):
        super().__init__()
        base, doublings = plan_resolutions(size)
        widths = [width * min(2 ** i, 8) for i in range(doublings + 1)]
        chans = [channels] + widths[:doublings]
        self.blocks = nn.ModuleList(DBlock(chans[i], chans[i + 1], i == 0) for i in range(doublings))
        self.attention = nn.ModuleDict({str(i): SelfAttention(chans[i + 1], True)
                                        for i in range(doublings) if size // 2 ** (i + 1) in attention_at})
        last = chans[-1]
        self.final = _sn(nn.Conv2d(last, last, 3, padding=1))
        self.head = _sn(nn.Linear(last, 1))
        self.embed = _sn(nn.Embedding(num_classes, last)) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        h = F.relu(self.final(F.relu(h))).sum((2, 3))
        out = self.head(h).squeeze(1)
        if self.embed is not None and labels is not None:
            out = out + (self.embed(labels) * h).sum(1)
        return out


def orthogonal_penalty(module: nn.Module) -> torch.Tensor:
    """BigGAN's orthogonal regularisation: || W W^T * (1 - I) ||^2 over weight matrices (filters as
    rows), pushing filters apart without fixing their norms; smooths G so truncation works. The
    shared embedding is left out (as in the paper's code), and so is any matrix with more rows than
    columns (the input layer: its rows cannot all be orthogonal, and its gram matrix is the costliest)."""
    total = None
    for name, p in module.named_parameters():
        if p.ndim < 2 or not p.requires_grad or name.startswith("shared"):
            continue
        if p.shape[0] > p[0].numel():
            continue
        w = p.flatten(1)
        gram = w @ w.t()
        off = gram * (1 - torch.eye(gram.shape[0], device=gram.device, dtype=gram.dtype))
        term = off.pow(2).sum()
        total = term if total is None else total + term
    return total if total is not None else torch.zeros(())
