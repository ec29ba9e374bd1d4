"""Feed-forward style transfer (Johnson, Alahi & Fei-Fei, 2016): one network per style, trained once,
then stylising any image in a single pass.

    genstudio train --family style --data CONTENT_FOLDER --input style=IMAGE
    genstudio translate RUN --images X --out DIR

The transformer network is Johnson et al.'s: a 9x9 conv, two stride-2 convs, residual blocks, two
upsampling convs (nearest + conv, which avoids the checkerboard of transposed convs) and a 9x9 conv
to RGB, with instance normalisation (Ulyanov et al., 2016) throughout. It is trained with the same
perceptual losses as the optimisation method (engines/style): content at a deep layer of a fixed
feature network, Gram matrices at several layers against the one style image, total variation.

The style image comes from the named input `style` (a uint8 array; `--input style=IMAGE`). It is
kept, resized to `style_size`, in the checkpoint, so a run (and an exported model) reloads and
stylises alone. The preview grid shows fixed content images (the first ones trained on)
beside their stylisations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import ConfigError, param
from ..registry import Family
from ..style.features import FEATURE_CHOICES_HELP, FeatureError, load_features
from ..style.gatys import fit_longest, gram, tv_loss
from .base import Batch, DataSpec, Engine

from .base import InputSpec
from .capabilities import Translator

PREVIEW_CONTENT = 8   # fixed content images kept for the preview grid


@dataclass(frozen=True)
class StyleConfig:
    width: int = param(16, min=4, max=128, help="channels of the first layer (Johnson et al.: 32); x2 and x4 "
                                                "after each downsampling")
    res_blocks: int = param(3, min=0, max=10, help="residual blocks at the lowest resolution (Johnson et al.: 5)")
    style_weight: float = param(2.0, min=0.0, max=1e6, help="style statistics against keeping the content "
                                                            "(relative losses; higher: more style)")
    content_weight: float = param(1.0, min=0.0, max=1e6, help="how much keeping the content counts")
    tv_weight: float = param(1e-3, min=0.0, max=10.0, help="total-variation smoothness of the output")
    noise_channels: int = param(1, min=0, max=8,
                                help="noise planes given to the network beside the image (Ulyanov et al.'s texture "
                                     "networks): flat regions (a digit's black background) get something to paint; "
                                     "fresh noise while training, a fixed pattern when stylising")
    lr: float = param(1e-3, min=1e-6, max=1.0, help="Adam learning rate")
    features: str = param("random", help=FEATURE_CHOICES_HELP)
    feature_seed: int = param(0, min=0, max=2**31 - 1, help="seed of the random feature network")
    style_size: int = param(0, min=0, max=1024, help="side the style image is resized to for its statistics, "
                                                     "in px; 0: twice the training size")


def preset(config: StyleConfig, size: int) -> StyleConfig:
    return config


def train_preset(size: int) -> dict:
    return {"batch_size": 8, "sample_every": 50, "n_samples": 16, "checkpoint_every": 200, "steps": 600,
            "val_fraction": 0.0, "validate_every": 0}


class _ConvIN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True):
        layers: list[nn.Module] = [nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride),
                                   nn.InstanceNorm2d(cout, affine=True)]
        if relu:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class _Residual(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(_ConvIN(ch, ch, 3), _ConvIN(ch, ch, 3, relu=False))

    def forward(self, x):
        return x + self.body(x)


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = _ConvIN(cin, cout, 3)

    def forward(self, x, size):
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class TransformerNet(nn.Module):
    """Image (B, C, H, W) in [-1, 1], any H, W -> RGB (B, 3, H, W) in [-1, 1]."""

    def __init__(self, channels: int, width: int, res_blocks: int):
        super().__init__()
        w = width
        self.down = nn.ModuleList([_ConvIN(channels, w, 9), _ConvIN(w, 2 * w, 3, 2), _ConvIN(2 * w, 4 * w, 3, 2)])
        self.res = nn.Sequential(*[_Residual(4 * w) for _ in range(res_blocks)])
        self.up = nn.ModuleList([_Up(4 * w, 2 * w), _Up(2 * w, w)])
        self.out = nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(w, 3, 9))

    def forward(self, x):
        sizes = []
        h = x
        for i, layer in enumerate(self.down):
            if i:
                sizes.append(h.shape[-2:])
            h = layer(h)
        h = self.res(h)
        for layer, size in zip(self.up, reversed(sizes)):
            h = layer(h, size)
        return torch.tanh(self.out(h))


class _Held(nn.Module):
    """What a run keeps besides the network: the style image and the preview's content images."""

    def __init__(self, style_size: int, spec: DataSpec):
        super().__init__()
        self.register_buffer("style", torch.zeros(3, style_size, style_size, dtype=torch.uint8))
        self.register_buffer("preview", torch.zeros(PREVIEW_CONTENT, spec.channels, spec.size, spec.size,
                                                    dtype=torch.uint8))


def _square(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W, C) -> uint8 (3, size, size): centre square, resized."""
    from PIL import Image

    rgb = fit_longest(image, max(image.shape[:2]))  # also checks and converts to RGB floats
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = (rgb[top:top + side, left:left + side] * 255).round().astype(np.uint8)
    out = np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)
    return out.transpose(2, 0, 1).copy()


class StyleEngine(Engine, Translator):
    family = "style"
    directions: ClassVar[tuple[str, ...]] = ("stylise",)
    mixed_precision_ok: ClassVar[bool] = True
    inputs: ClassVar[tuple[InputSpec, ...]] = (
        InputSpec("data", "images", "Content images to train on (any photos or drawings)."),
        InputSpec("style", "image", "The style image (a painting, a texture); the run keeps it."))

    def __init__(self, config: StyleConfig, data: DataSpec, device: torch.device | str = "cpu",
                 inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.net = TransformerNet(data.channels + c.noise_channels, c.width, c.res_blocks).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        self.style_size = c.style_size or 2 * data.size
        self.held = _Held(self.style_size, data).to(self.device)
        self.has_style = False
        self.preview_count = 0
        given = (inputs or {}).get("style")     # None when a trained run is loaded: its checkpoint has it
        if given is not None:
            self.held.style.copy_(torch.from_numpy(_square(np.asarray(given), self.style_size)))
            self.has_style = True
        try:
            self.features = load_features(c.features, seed=c.feature_seed).to(self.device)
        except FeatureError as exc:
            raise ConfigError(str(exc)) from None
        self._targets: dict[str, torch.Tensor] | None = None

    # --- training ---------------------------------------------------------------------------
    def _style_targets(self) -> dict[str, torch.Tensor]:
        if self._targets is None:
            if not self.has_style:
                raise ConfigError("the style family needs a style image: --input style=IMAGE")
            with torch.no_grad():
                fs = self.features(self.held.style.float()[None] / 255.0)
            self._targets = {k: gram(fs[k]) for k in self.features.style_layers if k in fs}
            self._snorm = {k: float(g.pow(2).mean()) + 1e-8 for k, g in self._targets.items()}
        return self._targets

    def _rgb01(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] (B, C, H, W) -> [0, 1] RGB."""
        x = (x + 1) / 2
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    def _with_noise(self, x: torch.Tensor, seed: int, shared: bool = False) -> torch.Tensor:
        """The image with the noise planes appended (seeded: the same seed, the same noise). `shared`:
        one pattern for every image, so an image's result does not depend on its batch."""
        k = self.config.noise_channels
        if k == 0:
            return x
        gen = torch.Generator().manual_seed(int(seed))
        n = 1 if shared else x.shape[0]
        noise = torch.randn((n, k) + tuple(x.shape[-2:]), generator=gen).to(x.device, x.dtype)
        return torch.cat([x, noise.expand(x.shape[0], -1, -1, -1)], dim=1)

    def losses(self, x: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, dict[str, float]]:
        targets = self._style_targets()
        y = self.net(self._with_noise(x, seed))
        fy = self.features(self._rgb01(y))
        with torch.no_grad():
            fx = self.features(self._rgb01(x))
        k = self.features.content_layer
        if k not in fy:
            raise ConfigError(f"{self.features.description}: images of {x.shape[-1]} px are too small for its "
                              f"layer {k}")
        content = ((fy[k] - fx[k]).pow(2).flatten(1).mean(1) / (fx[k].pow(2).flatten(1).mean(1) + 1e-8)).mean()
        style = sum((gram(fy[n]) - g).pow(2).flatten(1).mean(1).mean() / self._snorm[n]
                    for n, g in targets.items() if n in fy) / max(1, len(targets))
        tv = tv_loss((y + 1) / 2)
        c = self.config
        total = c.content_weight * content + c.style_weight * style + c.tv_weight * 100.0 * tv
        return total, {"loss": float(total.detach()), "content": float(content.detach()),
                       "style": float(style.detach()), "tv": float(tv.detach())}

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        if self.preview_count < PREVIEW_CONTENT:
            take = min(PREVIEW_CONTENT - self.preview_count, len(batch.pixels))
            self.held.preview[self.preview_count:self.preview_count + take] = batch.pixels[:take]
            self.preview_count += take
        self.net.train()
        with self.autocast():
            loss, parts = self.losses(batch.float(), seed=1_000_003 + step)
        self.opt.zero_grad()
        loss.backward()
        parts["grad_norm"] = self.optimizer_step(self.opt, self.net)
        return parts

    # --- using it -----------------------------------------------------------------------------
    @torch.no_grad()
    def stylise(self, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """uint8 (n, H, W, C) at any size, grey or RGB -> uint8 (n, H, W, 3)."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError("images must be uint8 (n, H, W, C)")
        self.net.eval()
        out = []
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])).permute(0, 3, 1, 2).float()
            x = x.to(self.device).div(127.5).sub(1.0)
            if x.shape[1] != self.data.channels:
                x = x[:, :3].mean(1, keepdim=True) if self.data.channels == 1 else x[:, :1].expand(-1, 3, -1, -1)
            y = self.net(self._with_noise(x, seed=0, shared=True))
            out.append(((y.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0,) + images.shape[1:3] + (3,), np.uint8)

    def translate(self, images: np.ndarray, direction: str | None = None, progress=None) -> np.ndarray:
        if direction not in (None, "stylise", "a2b"):
            raise ConfigError(f"a style run translates one way (stylise), not {direction!r}")
        return self.stylise(images)

    def channels_of(self, direction: str) -> tuple[int, int]:
        return self.data.channels, 3

    def preview(self, n: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        """Fixed content images (the first trained on) beside their stylisations, as RGB pairs."""
        k = max(1, min(n // 2, PREVIEW_CONTENT))
        content = self.held.preview[:k].permute(0, 2, 3, 1).cpu().numpy()
        if self.preview_count == 0:   # before any training: a seeded grey ramp, so the grid still shows the net
            content = np.broadcast_to(np.linspace(0, 255, self.data.size, dtype=np.uint8)[None, None, :, None],
                                      content.shape).copy()
        styled = self.stylise(content)
        rgb = np.repeat(content, 3, axis=-1) if content.shape[-1] == 1 else content
        pairs = np.stack([rgb, styled], axis=1)
        return pairs.reshape((-1,) + styled.shape[1:])

    @property
    def style_image(self) -> np.ndarray:
        """uint8 (S, S, 3): the style image this run trains towards (saved in its checkpoints)."""
        return self.held.style.permute(1, 2, 0).cpu().numpy()

    # --- state ----------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"transformer": self.net, "held": self.held}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"transformer": self.opt}

    def extra_state(self) -> dict:
        return {"has_style": self.has_style, "preview_count": self.preview_count}

    def load_extra_state(self, state: dict) -> None:
        self.has_style = bool(state.get("has_style", self.has_style))
        self.preview_count = int(state.get("preview_count", self.preview_count))
        self._targets = None     # the style buffer is about to change


FAMILY = Family(
    name="style",
    title="Style transfer (feed-forward)",
    description="Johnson et al.'s transformer network (instance norm, residual blocks) trained on content "
                "images with one style image (--input style=IMAGE); afterwards it stylises any image in one "
                "pass (genstudio translate). Features: random filters by default, no download.",
    config_class=StyleConfig,
    engine_class=StyleEngine,
    preset=preset,
    train_preset=train_preset,
)
