"""StyleGAN2-lite networks (Karras et al., 2019/2020), small enough for a CPU.

Generator: a mapping network (pixel-normed z through equalised linear layers at a 0.01 learning-rate
multiplier) gives w; the synthesis network starts from a learned constant 4x4 map and applies one
style per layer (an affine map of w): modulated 3x3 convolutions whose weights are scaled per input
channel by the style and then demodulated (each output filter back to unit norm), per-layer noise
with a learned strength, and a skip architecture (each resolution adds its own RGB image to the
enlarged previous one). The generator tracks the mean w seen in training (`w_avg`) for truncation.

Styles are given per layer as ws (B, num_ws, w_dim); `style_levels()` groups the layers into coarse,
middle and fine by resolution (the paper's style-mixing figure). Noise: fresh random noise when
training, fixed per-layer noise maps (seeded, not trained, not saved) when not, so sampling a seed
always gives the same image.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .progan_nets import EqualConv2d, EqualLinear, ladder, minibatch_stddev, pixel_norm

NOISE_SEED = 7_654_321


class Mapping(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul) for i in range(layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(z)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2) * math.sqrt(2)
        return x


class ModulatedConv(nn.Module):
    """A conv whose input channels are scaled by a style per image; demodulated unless it makes RGB."""

    def __init__(self, c_in: int, c_out: int, kernel: int, w_dim: int, demodulate: bool = True,
                 upsample: bool = False, upsample_after: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.scale = 1 / math.sqrt(c_in * kernel * kernel)
        self.affine = EqualLinear(w_dim, c_in, gain=1.0, bias_init=1.0)  # styles start at 1
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.demodulate, self.upsample, self.padding = demodulate, upsample, kernel // 2
        self.upsample_after = upsample_after  # double the map after the conv (a quarter of its cost), not before

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # Modulating the input channels and scaling the output channels with one shared weight is the
        # same maths as a per-image modulated weight, and runs as one ordinary (fast) convolution.
        style = self.affine(w)                                            # (B, c_in)
        weight = self.weight * self.scale
        x = x * style[:, :, None, None]
        if self.upsample and not self.upsample_after:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:  # each image's output filters back to unit norm: 1/sqrt(sum (w * s)^2)
            d = torch.rsqrt(style.pow(2) @ weight.pow(2).sum((2, 3)).t() + 1e-8)   # (B, c_out)
            out = out * d[:, :, None, None]
        if self.upsample and self.upsample_after:
            out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False)
        return out + self.bias[None, :, None, None]


class StyleLayer(nn.Module):
    """Modulated conv + noise (learned strength, starting at 0) + bias + leaky ReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int, upsample: bool, noise_index: int,
                 upsample_after: bool = False):
        super().__init__()
        self.conv = ModulatedConv(c_in, c_out, 3, w_dim, upsample=upsample, upsample_after=upsample_after)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        gen = torch.Generator().manual_seed(NOISE_SEED + noise_index)
        self.register_buffer("fixed_noise", torch.randn(1, 1, resolution, resolution, generator=gen), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w)
        if self.training:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        else:
            noise = self.fixed_noise
        return F.leaky_relu(x + self.noise_strength * noise, 0.2) * math.sqrt(2)


class Synthesis(nn.Module):
    def __init__(self, w_dim: int, size: int, channels: int, width: int, max_width: int, upsample_after: bool = False):
        super().__init__()
        self.sizes = ladder(size)
        n = len(self.sizes)
        ch = [min(width * 2 ** (n - 1 - i), max_width) for i in range(n)]
        self.const = nn.Parameter(torch.randn(1, ch[0], self.sizes[0], self.sizes[0]))
        layers, to_rgb, self.layer_res = [], [], []
        self.first = StyleLayer(ch[0], ch[0], w_dim, self.sizes[0], False, 0)
        self.layer_res.append(0)
        for i in range(1, n):
            layers.append(nn.ModuleList([StyleLayer(ch[i - 1], ch[i], w_dim, self.sizes[i], True, 2 * i - 1, upsample_after),
                                         StyleLayer(ch[i], ch[i], w_dim, self.sizes[i], False, 2 * i)]))
            self.layer_res += [i, i]
        self.blocks = nn.ModuleList(layers)
        # each resolution's RGB layer takes the style of that resolution's last conv (as in StyleGAN2)
        self.to_rgb = nn.ModuleList(ModulatedConv(c, channels, 1, w_dim, demodulate=False) for c in ch)
        self.num_ws = len(self.layer_res)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        x = self.first(x, ws[:, 0])
        rgb = self.to_rgb[0](x, ws[:, 0])
        k = 1
        for i, (up, conv) in enumerate(self.blocks, start=1):
            x = up(x, ws[:, k])
            x = conv(x, ws[:, k + 1])
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + self.to_rgb[i](x, ws[:, k + 1])
            k += 2
        return rgb


class StyleGenerator(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, mapping_layers: int, lr_mul: float, size: int, channels: int,
                 width: int, max_width: int, upsample_after: bool = False):
        super().__init__()
        self.z_dim, self.w_dim = z_dim, w_dim
        self.mapping = Mapping(z_dim, w_dim, mapping_layers, lr_mul)
        self.synthesis = Synthesis(w_dim, size, channels, width, max_width, upsample_after)
        self.num_ws = self.synthesis.num_ws
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """(B, w_dim) -> (B, num_ws, w_dim): the same style for every layer."""
        return w[:, None].expand(-1, self.num_ws, -1)

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        return w if psi >= 1.0 else torch.lerp(self.w_avg.to(w.dtype), w, psi)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.synthesis(self.broadcast(self.mapping(z)))


def style_levels(sizes: list[int], layer_res: list[int]) -> dict[str, list[int]]:
    """Style (ws) indices per level: the resolutions split into coarse, middle and fine thirds
    (coarse gets the extra one; with two resolutions there is no middle)."""
    n = len(sizes)
    fine = max(1, n // 3) if n > 1 else 0
    coarse = math.ceil((n - fine) / 2)
    groups = {"coarse": range(0, coarse), "middle": range(coarse, n - fine), "fine": range(n - fine, n)}
    return {name: [k for k, r in enumerate(layer_res) if r in res] for name, res in groups.items()}


class StyleDiscriminator(nn.Module):
    """StyleGAN2's residual discriminator with equalised LR and minibatch stddev.

    Each block: a 3x3 conv at the block's resolution, then the second 3x3 conv and the 1x1 skip conv.
    With `downsample_first` (StyleGAN2's layout, where both are strided convs after a blur) those two
    run on the halved map (average pooling, then the conv), a quarter of their cost; without it they run
    at the full map and their outputs are pooled (the layout of runs made before the option)."""

    def __init__(self, size: int, channels: int, width: int, max_width: int, downsample_first: bool = False):
        super().__init__()
        self.downsample_first = downsample_first
        sizes = ladder(size)
        n = len(sizes)
        ch = [min(width * 2 ** (n - 1 - i), max_width) for i in range(n)]   # ch[i] at sizes[i]
        self.from_rgb = EqualConv2d(channels, ch[-1], 1)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualConv2d(ch[i], ch[i], 3), EqualConv2d(ch[i], ch[i - 1], 3),
                           EqualConv2d(ch[i], ch[i - 1], 1, gain=1.0)])
            for i in range(n - 1, 0, -1))
        self.final_conv = EqualConv2d(ch[0] + 1, ch[0], 3)
        self.final_linear = EqualLinear(ch[0] * sizes[0] * sizes[0], ch[0])
        self.head = EqualLinear(ch[0], 1, gain=1.0)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.leaky_relu(self.from_rgb(x), 0.2)
        for conv1, conv2, skip in self.blocks:
            y = F.leaky_relu(conv1(h), 0.2)
            if self.downsample_first:
                y = F.leaky_relu(conv2(F.avg_pool2d(y, 2)), 0.2)
                h = (y + skip(F.avg_pool2d(h, 2))) / math.sqrt(2)
            else:
                y = F.avg_pool2d(F.leaky_relu(conv2(y), 0.2), 2)
                h = (y + F.avg_pool2d(skip(h), 2)) / math.sqrt(2)
        h = F.leaky_relu(self.final_conv(minibatch_stddev(h)), 0.2)
        h = F.leaky_relu(self.final_linear(h.flatten(1)), 0.2)
        return self.head(h).squeeze(1)
