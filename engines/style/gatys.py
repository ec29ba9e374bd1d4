"""Style transfer by optimisation (Gatys, Ecker & Bethge, 2016).

    result = stylize(content_uint8, style_uint8, StyleOptions(steps=300), features, progress=fn)

The output image is optimised (from the content, or from noise) so that its features at a deep
layer match the content image's and the Gram matrices of several layers match the style image's,
with a total-variation term for smoothness. Each loss is relative (divided by the size of its
target), so the weights mean the same thing whatever feature network is used. `progress` is called
every `preview_every` iterations with a StyleProgress (losses, and the current image as uint8);
raising engines.progress.Cancelled there stops early and the current image is kept.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from ..config import ConfigError, param
from ..progress import Cancelled
from . import colour
from .features import Features

MIN_SIZE, MAX_SIZE = 16, 2048


class StyleError(ValueError):
    """The images or settings cannot be used; the message is meant for a person."""


@dataclass(frozen=True)
class StyleOptions:
    size: int = param(256, min=MIN_SIZE, max=MAX_SIZE,
                      help="longest side of the result in pixels (the content image is resized to it; "
                           "time grows with the square of it)")
    steps: int = param(300, min=1, max=20000, help="optimisation iterations")
    style_weight: float = param(10.0, min=0.0, max=1e6,
                                help="how much the style statistics count against keeping the content "
                                     "(higher: more style; 10 suits photos at 256 px, while small images with "
                                     "flat backgrounds such as 32 px digits keep their content only below ~0.1)")
    content_weight: float = param(1.0, min=0.0, max=1e6, help="how much keeping the content counts")
    tv_weight: float = param(1e-3, min=0.0, max=10.0, advanced=True,
                             help="total-variation smoothness (removes speckle; too high blurs)")
    optimizer: str = param("adam", choices=("adam", "lbfgs"),
                           help="adam: steady, previews every few steps; lbfgs: fewer steps to a good image "
                                "(Gatys et al.), each costs more")
    lr: float = param(0.02, min=1e-5, max=1.0, advanced=True, help="Adam step size in pixel units (0..1)")
    init: str = param("content", choices=("content", "noise"),
                      help="start from the content image (keeps it best) or from noise (more style)")
    init_noise: float = param(1.0, min=0.0, max=1.0,
                              help="style-coloured noise added to the starting image (the style's colours and "
                                   "spectrum with random phases): flat regions of the content grow texture only "
                                   "from it, since a flat area's pixels all get the same gradient")
    moment_weight: float = param(1.0, min=0.0, max=1e6, advanced=True,
                                 help="weight of matching each style feature's mean and spread (histogram-like "
                                      "statistics beside the Gram matrices), relative to the style weight")
    preserve_colour: bool = param(False, help="transfer texture in luminance only and keep the content's "
                                              "colours (YCbCr)")
    style_scale: float = param(1.0, min=0.125, max=4.0, advanced=True,
                               help="style image size relative to the result (larger: finer brush strokes)")
    seed: int = param(0, min=0, max=2**31 - 1, help="noise initialisation and random features")
    preview_every: int = param(10, min=1, max=10000, advanced=True, help="iterations between previews")


@dataclass
class StyleProgress:
    step: int                      # iterations done
    total: int
    losses: dict[str, float]       # total, content, style, tv (weighted)
    image: np.ndarray | None       # uint8 (H, W, 3) current result, at preview steps


@dataclass
class StyleResult:
    image: np.ndarray              # uint8 (H, W, 3)
    steps_done: int
    stopped: bool                  # True when cancelled before `steps`
    history: list[dict[str, float]] = field(default_factory=list)   # losses per iteration
    seconds: float = 0.0


def check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise StyleError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels (got {size}); larger results "
                         f"would take hours and gigabytes on a CPU - stylise at a smaller size and upscale")
    return int(size)


def fit_longest(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W, C) resized so its longest side is `size` (aspect kept), as float RGB in [0, 1]."""
    from PIL import Image

    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.dtype != np.uint8 or image.shape[-1] not in (1, 3, 4):
        raise StyleError("images must be uint8 (H, W, 1|3|4) arrays")
    rgb = image[..., :3] if image.shape[-1] >= 3 else np.repeat(image, 3, axis=-1)
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    pil = Image.fromarray(np.ascontiguousarray(rgb))
    if (nh, nw) != (h, w):
        pil = pil.resize((nw, nh), Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    return np.asarray(pil, dtype=np.float64) / 255.0


def _tensor(rgb01: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb01, dtype=np.float32)).permute(2, 0, 1)[None].contiguous()


def _uint8(x: torch.Tensor) -> np.ndarray:
    return (x.detach()[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)


def gram(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C), normalised by the number of positions."""
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def _moments(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 2C): each channel's mean and standard deviation over positions."""
    flat = f.flatten(2)
    return torch.cat([flat.mean(2), (flat.var(2, unbiased=False) + 1e-8).sqrt()], 1)


def style_noise(style01: np.ndarray, shape: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    """(1, 3, H, W) noise with the style image's colours and amplitude spectrum and random phases (one
    phase field for all channels, so colours stay correlated as in the style), centred on zero."""
    s = _tensor(np.asarray(style01, dtype=np.float32))
    s = F.interpolate(s, size=shape, mode="bilinear", align_corners=False) if s.shape[-2:] != shape else s
    s = s - s.mean(dim=(2, 3), keepdim=True)
    spec = torch.fft.rfft2(s)
    phase = torch.fft.rfft2(torch.randn((1, 1, *shape), generator=gen))
    phase = phase / (phase.abs() + 1e-8)
    return torch.fft.irfft2(spec * phase, s=shape)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


class _Objective:
    """The targets of one content/style pair and the weighted loss of a candidate image."""

    def __init__(self, features: Features, content: torch.Tensor, style: torch.Tensor, options: StyleOptions):
        self.features, self.o = features, options
        with torch.no_grad():
            fc = features(content)
            fs = features(style)
        self.content_layer = features.content_layer
        if self.content_layer not in fc:
            raise StyleError(f"{features.description}: the image is too small for its layer {self.content_layer}")
        self.content_target = fc[self.content_layer]
        self.style_targets = {k: gram(fs[k]) for k in features.style_layers if k in fs and k in fc}
        if not self.style_targets:
            raise StyleError(f"{features.description}: the images are too small for its style layers")
        self._cnorm = float(self.content_target.pow(2).mean()) + 1e-8
        self._snorm = {k: float(g.pow(2).mean()) + 1e-8 for k, g in self.style_targets.items()}
        self.moment_targets = {k: _moments(fs[k]) for k in self.style_targets}
        self._mnorm = {k: float(m.pow(2).mean()) + 1e-8 for k, m in self.moment_targets.items()}

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        f = self.features(x)
        content = (f[self.content_layer] - self.content_target).pow(2).mean() / self._cnorm
        style = sum((gram(f[k]) - g).pow(2).mean() / self._snorm[k] for k, g in self.style_targets.items())
        style = style / len(self.style_targets)
        o = self.o
        if o.moment_weight:
            moments = sum((_moments(f[k]) - m).pow(2).mean() / self._mnorm[k] for k, m in self.moment_targets.items())
            style = style + o.moment_weight * moments / len(self.moment_targets)
        tv = tv_loss(x)
        total = o.content_weight * content + o.style_weight * style + o.tv_weight * 100.0 * tv
        d = {"total": float(total.detach()), "content": float(o.content_weight * content.detach()),
             "style": float(o.style_weight * style.detach()), "tv": float(o.tv_weight * 100.0 * tv.detach())}
        return total, d


def stylize(content: np.ndarray, style: np.ndarray, options: StyleOptions, features: Features,
            progress: Callable[[StyleProgress], None] | None = None) -> StyleResult:
    """Stylise one content image (uint8 H x W x C, any size) with one style image; see the module doc."""
    size = check_size(options.size)
    if options.optimizer not in ("adam", "lbfgs") or options.init not in ("content", "noise"):
        raise ConfigError("optimizer must be adam or lbfgs, init content or noise")
    start = time.perf_counter()
    content01 = fit_longest(content, size)
    style_size = max(MIN_SIZE, min(MAX_SIZE, round(size * options.style_scale)))
    style01 = fit_longest(style, style_size)
    if options.preserve_colour:
        cy = colour.luminance(content01)
        content_in = colour.grey3(cy)
        style_in = colour.grey3(colour.match_luminance(colour.luminance(style01), cy))
    else:
        content_in, style_in = content01, style01
    c = _tensor(content_in)
    objective = _Objective(features, c, _tensor(style_in), options)

    gen = torch.Generator().manual_seed(int(options.seed))
    if options.init == "noise":
        x0 = 0.5 + 0.15 * torch.randn(c.shape, generator=gen)
        if options.preserve_colour:
            x0 = x0.mean(1, keepdim=True).expand_as(c)
    else:
        x0 = c.clone()
    if options.init_noise:
        noise = style_noise(style_in, tuple(c.shape[-2:]), gen)
        if options.preserve_colour:
            noise = noise.mean(1, keepdim=True).expand_as(c)
        x0 = x0 + options.init_noise * noise   # 1: the style's own contrast
    x = x0.clamp(0, 1).clone(memory_format=torch.contiguous_format).requires_grad_(True)

    history: list[dict[str, float]] = []
    done = 0

    def finish_image() -> np.ndarray:
        out = x.detach()[0].clamp(0, 1).permute(1, 2, 0).double().numpy()
        if options.preserve_colour:
            out = colour.recombine(out, content01)
        return (out * 255.0).round().astype(np.uint8)

    def report(losses: dict[str, float]) -> None:
        if progress is None:
            return
        preview = done % options.preview_every == 0 or done == options.steps
        progress(StyleProgress(done, options.steps, losses, finish_image() if preview else None))

    stopped = False
    try:
        if options.optimizer == "adam":
            opt = torch.optim.Adam([x], lr=options.lr)
            for _ in range(options.steps):
                opt.zero_grad()
                loss, parts = objective(x)
                if not math.isfinite(parts["total"]):
                    raise StyleError("the loss became non-finite; lower the style weight or the learning rate")
                loss.backward()
                opt.step()
                with torch.no_grad():
                    x.clamp_(0, 1)
                done += 1
                history.append(parts)
                report(parts)
        else:
            opt = torch.optim.LBFGS([x], lr=1.0, max_iter=options.steps, max_eval=options.steps * 5 // 4 + 1,
                                    history_size=20, tolerance_grad=0.0, tolerance_change=0.0,
                                    line_search_fn="strong_wolfe")
            last: dict[str, float] = {}

            def closure():
                nonlocal done, last
                if done >= options.steps:   # evaluations beyond the budget (line search) end the run
                    raise _Budget
                opt.zero_grad()
                loss, parts = objective(x.clamp(0, 1))
                loss.backward()
                done += 1
                history.append(parts)
                last = parts
                report(parts)
                return loss

            try:
                opt.step(closure)
            except _Budget:
                pass
            with torch.no_grad():
                x.clamp_(0, 1)
    except Cancelled:
        stopped = True
        with torch.no_grad():
            x.clamp_(0, 1)
    return StyleResult(finish_image(), done, stopped, history, time.perf_counter() - start)


class _Budget(Exception):
    pass
