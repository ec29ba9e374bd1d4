"""The obvious non-learned answer to each tool's question: what a model has to beat to be worth using.

Pure functions of uint8 images (N, H, W, C); nothing here trains or reads a run.

  * inpaint: `mean_fill` (each hole takes the mean of the image's known pixels) and `nearest_fill`
    (each hole pixel takes the nearest known pixel's value).
  * denoise: `median_filter` and `gaussian_filter`; `filter_bank` names the candidates tried at a
    noise level, `best_filter` picks the best of them against clean references (the strongest
    filter a person could have tuned), `filter_for_sigma` a fixed choice when there is no reference.
  * upscale: `bicubic` (the same Pillow resampling the tool shows beside its result).
  * score: `complexity`, the image's own lossless PNG size in bits per subpixel: a statistic that
    needs no model (complex images score high, plain ones low), so a likelihood that only measures
    complexity does no better than it.
  * synthesize: the classifier trained on real images instead (engines/tools/synthesize.py's
    `classification_accuracy_score` returns it as `real_baseline`).

`BASELINES` names, per tool, the baseline its self-check compares with.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from .common import ToolError, bicubic_upscale, psnr

BASELINES = {
    "inpaint": "mean fill of the known pixels",
    "denoise": "the best of a median and Gaussian filters at the noise level",
    "upscale": "bicubic",
    "score": "the image's own complexity (PNG bits/dim)",
    "synthesize": "a classifier trained on as many real images",
}


def _images(images) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.dtype != np.uint8:
        raise ToolError("baselines take uint8 images (N, H, W, C)")
    return x


def _holes(images: np.ndarray, holes) -> np.ndarray:
    h = np.asarray(holes, bool)
    if h.ndim == 2 and h.shape == images.shape[1:3]:
        h = np.broadcast_to(h, images.shape[:3])
    if h.shape != images.shape[:3]:
        raise ToolError(f"the mask is {h.shape[-1]}x{h.shape[-2]}; the images are {images.shape[2]}x{images.shape[1]}")
    return h


# --- inpaint ---------------------------------------------------------------------------------------

def mean_fill(images, holes) -> np.ndarray:
    """Each image's holes (True in `holes`, (H, W) or (N, H, W)) filled with the mean of its known pixels
    (per channel; mid-grey when nothing is known)."""
    x = _images(images)
    h = _holes(x, holes)
    out = x.copy()
    for i in range(len(x)):
        known = ~h[i]
        fill = x[i][known].mean(0) if known.any() else np.full(x.shape[-1], 127.5)
        out[i][h[i]] = np.round(fill).astype(np.uint8)
    return out


def nearest_fill(images, holes) -> np.ndarray:
    """Holes filled from the edge inwards: each pass, every hole pixel beside known pixels takes their mean
    (4-neighbours), so each hole pixel gets the values of the nearest known ones (mean fill when none is known)."""
    x = _images(images)
    h = _holes(x, holes)
    out = x.astype(np.float64)
    for i in range(len(x)):
        hole = h[i].copy()
        if not hole.any():
            continue
        if hole.all():
            out[i] = mean_fill(x[i:i + 1], hole)[0]
            continue
        img = out[i]
        while hole.any():
            known = np.pad(~hole, 1).astype(np.float64)
            vals = np.pad(img * known[1:-1, 1:-1, None], ((1, 1), (1, 1), (0, 0)))
            count = known[:-2, 1:-1] + known[2:, 1:-1] + known[1:-1, :-2] + known[1:-1, 2:]
            total = vals[:-2, 1:-1] + vals[2:, 1:-1] + vals[1:-1, :-2] + vals[1:-1, 2:]
            edge = hole & (count > 0)
            img[edge] = total[edge] / count[edge][:, None]
            hole &= ~edge
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# --- denoise ---------------------------------------------------------------------------------------

def _nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32)).permute(0, 3, 1, 2)


def _back(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).round().clamp(0, 255).to(torch.uint8).numpy()


def median_filter(images, size: int = 3) -> np.ndarray:
    """Per-channel size x size median filter (edges reflected)."""
    x = _images(images)
    r = size // 2
    t = _nchw(x)
    if r == 0 or min(x.shape[1:3]) <= r:
        return x.copy()
    t = F.pad(t, (r, r, r, r), mode="reflect")
    patches = t.unfold(2, size, 1).unfold(3, size, 1)            # N, C, H, W, size, size
    return _back(patches.flatten(-2).median(-1).values)


def gaussian_filter(images, width: float) -> np.ndarray:
    """Per-channel Gaussian blur of standard deviation `width` pixels (0: unchanged; edges reflected)."""
    x = _images(images)
    if width <= 0:
        return x.copy()
    r = max(1, min(int(math.ceil(3 * width)), min(x.shape[1:3]) - 1))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / width) ** 2)
    k = k / k.sum()
    t = _nchw(x)
    c = t.shape[1]
    t = F.pad(t, (r, r, r, r), mode="reflect")
    t = F.conv2d(t, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    t = F.conv2d(t, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return _back(t)


def filter_bank(sigma: float) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The filters tried at noise level `sigma` (0-255 scale): no filter, median 3x3 and 5x5, Gaussian
    widths from 0.5 px up (2 px too above sigma 40)."""
    widths = [0.5, 0.75, 1.0, 1.5] + ([2.0] if sigma > 40 else [])
    bank: dict[str, Callable[[np.ndarray], np.ndarray]] = {"no filter": lambda x: np.array(x, copy=True)}
    bank["median 3x3"] = lambda x: median_filter(x, 3)
    bank["median 5x5"] = lambda x: median_filter(x, 5)
    for w in widths:
        bank[f"Gaussian {w:g} px"] = lambda x, w=w: gaussian_filter(x, w)
    return bank


def best_filter(noisy, clean, sigma: float) -> tuple[str, np.ndarray, float]:
    """(name, filtered images, PSNR) of the filter in `filter_bank(sigma)` with the best PSNR against
    `clean` over all the images together."""
    noisy, clean = _images(noisy), _images(clean)
    best = None
    for name, fn in filter_bank(sigma).items():
        out = fn(noisy)
        value = psnr(out, clean)
        if best is None or value > best[2]:
            best = (name, out, value)
    return best  # type: ignore[return-value]


def filter_for_sigma(sigma: float) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """A fixed filter for a noise level when no clean reference is at hand (shown beside each result)."""
    if sigma < 8:
        return "no filter", lambda x: np.array(x, copy=True)
    if sigma < 30:
        return "median 3x3", lambda x: median_filter(x, 3)
    width = 1.0 if sigma < 60 else 1.5
    return f"Gaussian {width:g} px", lambda x: gaussian_filter(x, width)


# --- upscale ---------------------------------------------------------------------------------------

def bicubic(images, size: int) -> np.ndarray:
    """Each small image enlarged to size x size, bicubic."""
    return np.stack([bicubic_upscale(np.asarray(im, np.uint8), size) for im in images])


# --- score -----------------------------------------------------------------------------------------

def complexity(images) -> np.ndarray:
    """Lossless PNG size of each image in bits per subpixel (the score of a model that knows nothing
    about the data but how compressible an image is)."""
    from .score import png_bits_per_dim

    return png_bits_per_dim(_images(images))


__all__ = ["BASELINES", "mean_fill", "nearest_fill", "median_filter", "gaussian_filter", "filter_bank",
           "best_filter", "filter_for_sigma", "bicubic", "complexity"]
