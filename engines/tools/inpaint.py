"""Inpainting (imputation): fill the pixels a mask marks, keep every other pixel exactly.

Pipelines over roles, the first that the model has (capabilities.has):
  * prior over pixels (ddpm, flow-matching): RePaint (engines/tools/diffusion.py).
  * autoregressive (PixelCNN, the pixel transformer): exact conditional sampling in raster order, else
    Gibbs resampling (engines/tools/autoregressive.py).
  * latent renderer (VAE, autoencoder, flows, GANs): the latent is optimised so the rendering matches the
    known pixels, with the prior as regulariser (engines/tools/latent_fit.py).
  * energy (EBM): Langevin sampling with the known pixels clamped.
Masks: True (or white in a mask image) = fill, False = keep; the one convention of every pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..families.base import Engine
from . import autoregressive, diffusion
from .common import Method, ProgressFn, ToolError, choose, role, to_float, to_uint8
from .latent_fit import can_fit, fit_latents


@dataclass
class InpaintResult:
    images: np.ndarray     # uint8 (N, K, H, W, C): K candidates per input
    method: str            # what was actually done, for the person


def box_mask(size: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A (size, size) hole mask from X,Y,W,H in the run's pixels (clipped to the image)."""
    x, y, w, h = (int(v) for v in box)
    if w <= 0 or h <= 0:
        raise ToolError("--box needs a positive width and height (X,Y,W,H)")
    mask = np.zeros((size, size), bool)
    mask[max(0, y):max(0, y + h), max(0, x):max(0, x + w)] = True
    if not mask.any():
        raise ToolError(f"the box {x},{y},{w},{h} lies outside the {size}x{size} image")
    return mask


def load_mask(path, size: int, fit: str = "center-crop") -> np.ndarray:
    """A mask image (white = fill, black = keep, any size) resized like the images: (size, size) bool."""
    from ..data.decode import load_image, to_array

    im = load_image(path, "mask", error=ToolError)  # the one safe opener (engines/data/decode.py)
    try:
        arr = to_array(im, size, 1, fit, (0, 0, 0))[..., 0]
    except (OSError, ValueError) as exc:
        raise ToolError(f"mask {path} could not be converted ({type(exc).__name__})") from None
    return arr > 127


def _holes(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask, bool)
    n, h, w = images.shape[:3]
    if mask.ndim == 2 and mask.shape == (h, w):
        mask = np.broadcast_to(mask, (n, h, w))
    if mask.shape != (n, h, w):
        raise ToolError(f"the mask is {mask.shape[-2]}x{mask.shape[-1]}; the images are {h}x{w}")
    return np.ascontiguousarray(mask)


def method_for(engine: Engine) -> Method:
    return choose(METHODS, engine, "inpaint")


def inpaint(engine: Engine, images: np.ndarray, mask: np.ndarray, candidates: int = 1, seed: int = 0,
            labels: np.ndarray | None = None, progress: ProgressFn | None = None, **options) -> InpaintResult:
    """Fill mask == True in uint8 images (N, H, W, C); mask (H, W) for all or (N, H, W) per image.

    options: diffusion `steps`, `resample`; PixelCNN `sweeps`; latent fits `steps`, `lr`, `prior_weight`."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    holes = _holes(images, mask)
    if candidates < 1:
        raise ToolError("candidates must be at least 1")
    m = method_for(engine)
    n, k = len(images), int(candidates)
    if n == 0:
        return InpaintResult(np.zeros((0, k) + images.shape[1:], np.uint8), m.name)
    out, name = m.run(engine, images, holes, k, seed, labels, progress, **options)
    rep = np.repeat(images, k, axis=0)
    rep_holes = np.repeat(holes, k, axis=0)
    out = np.where(rep_holes[..., None], out, rep)  # known pixels exactly as they were
    return InpaintResult(out.reshape((n, k) + images.shape[1:]), name)


# --- latent families --------------------------------------------------------------------------------------

def _latent(engine, images, holes, k, seed, labels, progress, steps: int = 200, lr: float = 0.05,
            prior_weight: float = 1.0, noise: float = 0.1, **_ignored):
    n = len(images)
    target = to_float(images, engine.device).repeat_interleave(k, 0)
    known = torch.from_numpy(~holes)[:, None].float().to(engine.device).repeat_interleave(k, 0)
    # the first candidate starts from the encoding of the image with its hole filled by the known mean
    start = images.copy()
    for i in range(n):
        fill = images[i][~holes[i]].mean(0) if (~holes[i]).any() else 128
        start[i][holes[i]] = np.round(fill).astype(np.uint8)

    def evidence(x):
        return ((x - target) ** 2 * known).flatten(1).sum(1) / (2 * noise ** 2)

    x = fit_latents(engine, evidence, n, k, seed, int(steps), float(lr), float(prior_weight), start=start,
                    labels=labels, progress=progress)
    return to_uint8(x), f"latent optimisation ({int(steps)} steps; known pixels + prior, {k} start{'s' if k > 1 else ''})"


def _langevin(engine, images, holes, seed, labels, progress, steps: int | None = None, **_ignored):
    gen = torch.Generator().manual_seed(int(seed))
    values = to_float(images, engine.device)
    known = torch.from_numpy(~holes)[:, None].float().to(engine.device)
    x = (torch.rand(values.shape, generator=gen) * 2 - 1).to(engine.device)
    steps = int(steps or engine.sampling_options().steps)
    x = engine.langevin(x, steps, known=known, values=values, generator=gen, progress=progress)
    return to_uint8(x), f"Langevin sampling ({steps} steps) with the known pixels clamped (energy)"


def _candidates(pipeline):
    """A pipeline of one answer per image run on each image repeated k times (its candidates)."""
    def run(engine, images, holes, k, seed, labels, progress, **options):
        rep_labels = None if labels is None else np.repeat(np.asarray(labels, np.int64), k)
        return pipeline(engine, np.repeat(images, k, axis=0), np.repeat(holes, k, axis=0), seed, rep_labels,
                        progress, **options)
    return run


METHODS = (
    Method("RePaint (diffusion or flow prior, known region replaced at every step, resampling)", diffusion.in_pixels,
           _candidates(diffusion.repaint)),
    Method("autoregressive conditional sampling (exact in raster order, else Gibbs resampling)", role("autoregressive"),
           _candidates(autoregressive.inpaint)),
    Method("latent optimisation (known pixels + prior)", can_fit, _latent),  # candidates: the fit's random starts
    Method("Langevin sampling with the known pixels clamped (energy)", role("energy"), _candidates(_langevin)),
)
raster_suffix = autoregressive.raster_suffix


__all__ = ["METHODS", "InpaintResult", "inpaint", "box_mask", "load_mask", "raster_suffix", "method_for"]
