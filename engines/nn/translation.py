"""Image-to-image networks: the ResNet-block generator and the PatchGAN discriminator of CycleGAN
(Zhu et al. 2017, after Johnson et al. 2016 and Isola et al. 2017), sized for small images.

Generator: 7x7 conv, `down` stride-2 convs, `blocks` residual blocks, `down` transposed convs, 7x7 conv
to tanh; reflection padding and instance norm throughout. PatchGAN: stride-2 4x4 convs then two
stride-1 4x4 convs, one real/fake score per overlapping patch.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def downsamplings(size: int, wanted: int = 2) -> int:
    """How many stride-2 steps a generator can take at `size` and keep at least 4x4 in the middle."""
    return max(0, min(wanted, int(math.log2(max(size, 1) / 4))))


def patch_layers(size: int, wanted: int) -> int:
    """Stride-2 layers of a PatchGAN at `size` so that its last map is still at least 1x1."""
    return max(1, min(wanted, int(math.log2(max(size, 3) / 3))))


class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), nn.InstanceNorm2d(width, affine=True), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), nn.InstanceNorm2d(width, affine=True))

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int, blocks: int, down: int):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7),
                                   nn.InstanceNorm2d(width, affine=True), nn.ReLU(True)]
        w = width
        for _ in range(down):
            layers += [nn.Conv2d(w, w * 2, 3, stride=2, padding=1), nn.InstanceNorm2d(w * 2, affine=True), nn.ReLU(True)]
            w *= 2
        layers += [ResidualBlock(w) for _ in range(blocks)]
        for _ in range(down):
            layers += [nn.ConvTranspose2d(w, w // 2, 3, stride=2, padding=1, output_padding=1),
                       nn.InstanceNorm2d(w // 2, affine=True), nn.ReLU(True)]
            w //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int, width: int, layers: int):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        w = width
        for _ in range(layers - 1):
            mods += [nn.Conv2d(w, w * 2, 4, stride=2, padding=1), nn.InstanceNorm2d(w * 2, affine=True),
                     nn.LeakyReLU(0.2, True)]
            w *= 2
        mods += [nn.Conv2d(w, w * 2, 4, stride=1, padding=1), nn.InstanceNorm2d(w * 2, affine=True),
                 nn.LeakyReLU(0.2, True), nn.Conv2d(w * 2, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


class ImagePool(nn.Module):
    """The history of generated images a discriminator also learns from (Shrivastava et al. 2017):
    once full, each new image is shown as is or swapped with a stored one, half and half. Kept in
    buffers so checkpoints carry it and resumed runs continue exactly; it draws from torch's global
    RNG, which the loop saves."""

    def __init__(self, capacity: int, channels: int, size: int):
        super().__init__()
        self.capacity = capacity
        self.register_buffer("images", torch.zeros(capacity, channels, size, size))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.capacity == 0:
            return fakes
        out = []
        for img in fakes:
            n = int(self.count)
            if n < self.capacity:
                self.images[n] = img
                self.count += 1
                out.append(img)
            elif bool(torch.rand(()) < 0.5):
                k = int(torch.randint(0, self.capacity, ()))
                out.append(self.images[k].clone())
                self.images[k] = img
            else:
                out.append(img)
        return torch.stack(out)


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Images in [-1, 1] with 1 or 3 channels -> `channels` (grey repeats; RGB -> luminance)."""
    if x.shape[1] == channels:
        return x
    if channels == 3:
        return x.repeat(1, 3, 1, 1)
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)
