"""Super-resolution: a smaller image -> the run's size, consistent with the small image.

The degradation is area downsampling (each low-resolution pixel is the mean of the block it covers).
Pipelines over roles, the first that the model has (capabilities.has):
  * prior over pixels (ddpm, flow-matching): ILVR (engines/tools/diffusion.py), the result downsampling
    exactly to the input.
  * latent renderer (VAE, autoencoder, flows, GANs): the latent is optimised so that the downsampled
    rendering matches the input (a downsampling-consistency loss), with the prior as regulariser; the
    rendering is then projected onto the images that downsample exactly to the input
    (common.consistent_with, the data-consistency step of ILVR/DDRM-style methods).
Bicubic enlargement is returned beside every result as the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..families.base import Engine
from . import diffusion
from .common import Method, ProgressFn, ToolError, bicubic_upscale, choose, consistent_with, to_float, to_uint8
from .latent_fit import can_fit, fit_latents


@dataclass
class UpscaleResult:
    images: np.ndarray      # uint8 (N, S, S, C) at the run's size
    bicubic: np.ndarray     # uint8 (N, S, S, C): the bicubic baseline
    method: str


def method_for(engine) -> Method:
    return choose(METHODS, engine, "upscale")


def downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Area (box) downsampling to size x size: the degradation the tool inverts."""
    return F.interpolate(x, size=(size, size), mode="area") if x.shape[-1] != size else x


def shrink(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, S, S, C) -> (N, size, size, C) by the same area downsampling (to make test inputs)."""
    return to_uint8(downsample(to_float(images), size))


def upscale(engine: Engine, images, seed: int = 0, labels: np.ndarray | None = None,
            progress: ProgressFn | None = None, **options) -> UpscaleResult:
    """`images`: uint8 arrays (h, w, C) smaller than the run's size (a list; sizes may differ), or (N, h, w, C)."""
    size = engine.data.size
    images = [np.asarray(im, np.uint8) for im in images]
    for im in images:
        if im.shape[0] != im.shape[1] or im.shape[0] >= size or im.shape[-1] != engine.data.channels:
            raise ToolError(f"an input is {im.shape[1]}x{im.shape[0]}; super-resolution needs square images "
                            f"smaller than the run's {size} px with {engine.data.channels} channel(s)")
    m = method_for(engine)
    out = np.zeros((len(images), size, size, engine.data.channels), np.uint8)
    bic = np.stack([bicubic_upscale(im, size) for im in images]) if images else out.copy()
    name = m.name
    sizes = sorted({im.shape[0] for im in images})
    for g, small in enumerate(sizes):
        idx = [i for i, im in enumerate(images) if im.shape[0] == small]
        low = np.stack([images[i] for i in idx])
        lab = None if labels is None else np.asarray(labels)[idx]
        sub = None if progress is None else (lambda d, t, g=g: progress(g * t + d, len(sizes) * t))
        out[idx], name = m.run(engine, low, bic[idx], seed, lab, sub, **options)
    return UpscaleResult(out, bic, name)


def _ilvr(engine, low, bicubic, seed, labels, progress, steps: int | None = None, **_ignored):
    return diffusion.ilvr(engine, low, seed, labels, progress, steps)


def _latent(engine, low, bicubic, seed, labels, progress, steps: int = 200, lr: float = 0.05, noise: float = 0.05,
            **_ignored):
    small = low.shape[1]
    y = to_float(low, engine.device)

    def evidence(x):
        return ((downsample(x, small) - y) ** 2).flatten(1).sum(1) / (2 * noise ** 2)

    x = fit_latents(engine, evidence, len(low), 1, seed, int(steps), float(lr), 1.0, start=bicubic,
                    labels=labels, progress=progress)
    x = consistent_with(x, y)   # then exactly consistent with the input (a projection: never further from the truth)
    return to_uint8(x), (f"latent optimisation ({int(steps)} steps; downsampling consistency with the {small} px "
                         f"input + prior), then projected onto the images that downsample to it")


METHODS = (
    Method("ILVR diffusion (low frequencies replaced at every step)", diffusion.in_pixels, _ilvr),
    Method("latent optimisation (downsampling consistency + prior)", can_fit, _latent),
)


__all__ = ["METHODS", "UpscaleResult", "upscale", "downsample", "shrink", "method_for"]
