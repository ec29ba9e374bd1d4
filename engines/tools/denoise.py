"""Denoising: remove additive Gaussian noise from images.

Noise levels are standard deviations on the 0-255 pixel scale (sigma 25 is the classic benchmark
level). When not given, each image's level is estimated from its finest Haar wavelet band, the
median absolute deviation estimator of Donoho & Johnstone (1994): sigma = median(|HH|) / 0.6745.

Pipelines over roles, the first that the model has (capabilities.has):
  * prior over pixels (ddpm, flow-matching): from the matching noise level, deterministic sampler
    (engines/tools/diffusion.py; as in SDEdit, Meng et al. 2022).
  * reconstructor (autoencoders, VAEs, VQ-VAEs, latent diffusion through its first stage): encode, then decode.
  * latent renderer (flows, GANs): MAP in latent space, argmin |render(u) - y|^2 / (2 sigma^2) + |u|^2 / 2,
    started from the encoding of the noisy image where the family has an encoder.
  * energy (EBM): Langevin descent on the energy (no added noise) from the noisy image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..families.base import Engine
from . import diffusion
from .common import Method, ProgressFn, ToolError, check_progress, choose, role, to_float, to_uint8
from .latent_fit import can_fit, fit_latents


@dataclass
class DenoiseResult:
    images: np.ndarray        # uint8 (N, H, W, C)
    sigmas: np.ndarray        # the noise level used per image (0-255 scale)
    estimated: bool           # True when the levels were estimated
    method: str


def method_for(engine) -> Method:
    return choose(METHODS, engine, "denoise")


def estimate_sigma(images: np.ndarray) -> np.ndarray:
    """Per-image noise standard deviation (0-255 scale) from the finest diagonal Haar band."""
    x = np.asarray(images, np.float64)
    if x.ndim == 3:
        x = x[..., None]
    n, h, w, _ = x.shape
    h2, w2 = h - h % 2, w - w % 2
    if h2 < 2 or w2 < 2:
        return np.zeros(n)
    a, b = x[:, 0:h2:2, 0:w2:2], x[:, 0:h2:2, 1:w2:2]
    c, d = x[:, 1:h2:2, 0:w2:2], x[:, 1:h2:2, 1:w2:2]
    hh = (a - b - c + d) / 2.0
    return np.median(np.abs(hh).reshape(n, -1), axis=1) / 0.6745


def add_noise(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Images with Gaussian noise of std `sigma` (0-255 scale) added, clipped and rounded to uint8."""
    rng = np.random.default_rng(seed)
    noisy = np.asarray(images, np.float64) + rng.normal(0.0, sigma, np.shape(images))
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def denoise(engine: Engine, images: np.ndarray, sigma: float | None = None, seed: int = 0,
            labels: np.ndarray | None = None, progress: ProgressFn | None = None, **options) -> DenoiseResult:
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if sigma is not None and not 0 <= float(sigma) <= 255:
        raise ToolError("--sigma is a standard deviation on the 0-255 scale: between 0 and 255")
    m = method_for(engine)
    estimated = sigma is None
    sigmas = estimate_sigma(images) if estimated else np.full(len(images), float(sigma))
    if len(images) == 0:
        return DenoiseResult(images, sigmas, estimated, m.name)
    out, name = m.run(engine, images, sigmas, seed, labels, progress, **options)
    return DenoiseResult(out, sigmas, estimated, name)


def matching_step(engine, sigma: float) -> int:
    """Index in the prior's trained times of the one whose noise-to-signal ratio is closest to sigma/127.5
    (ddpm: the step t itself)."""
    return diffusion.matching_time(engine, sigma)[1]


def _reconstruct(engine, images, sigmas, seed, labels, progress, **_ignored):
    out = engine.reconstruct(images, labels if engine.conditional else None)
    check_progress(progress, 1, 1)
    return out, f"encode-decode ({engine.reconstruction})"


def _langevin(engine, images, sigmas, seed, labels, progress, steps: int | None = None, **_ignored):
    steps = int(steps or engine.sampling_options().steps)
    x = engine.langevin(to_float(images, engine.device), steps, noise=0.0, progress=progress)
    return to_uint8(x), f"Langevin descent on the energy ({steps} steps, no noise)"


def _map(engine, images, sigmas, seed, labels, progress, steps: int = 200, lr: float = 0.05, **_ignored):
    target = to_float(images, engine.device)
    s = torch.as_tensor(np.maximum(sigmas, 1.0) / 127.5, dtype=torch.float32, device=engine.device)

    def evidence(x):
        return ((x - target) ** 2).flatten(1).sum(1) / (2 * s ** 2)

    x = fit_latents(engine, evidence, len(images), 1, seed, int(steps), float(lr), 1.0, start=images,
                    labels=labels, progress=progress)
    return to_uint8(x), f"MAP in latent space ({int(steps)} steps; data term at the noise level + prior)"


METHODS = (
    Method("diffusion from the matching noise level (deterministic)", diffusion.in_pixels, diffusion.denoise_from_level),
    Method("encode-decode", role("reconstruct"), _reconstruct),
    Method("MAP in latent space", can_fit, _map),
    Method("Langevin descent on the energy", role("energy"), _langevin),
)


__all__ = ["METHODS", "DenoiseResult", "denoise", "estimate_sigma", "add_noise", "matching_step", "method_for"]
