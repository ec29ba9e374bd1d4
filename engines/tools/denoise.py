"""Denoising: remove additive Gaussian noise from images.

Noise levels are standard deviations on the 0-255 pixel scale (sigma 25 is the classic benchmark
level). When not given, each image's level is estimated from its finest Haar wavelet band, the
median absolute deviation estimator of Donoho & Johnstone (1994): sigma = median(|HH|) / 0.6745.

Methods, chosen from what the family can do:
  * diffusion: a noisy image y = x + sigma n is, scaled by sqrt(alpha_bar_t), a sample of x_t for the
    step t where (1 - alpha_bar_t) / alpha_bar_t = sigma^2 (on the [-1, 1] scale); the deterministic
    DDIM reverse process runs from that step to the clean image (as in SDEdit, Meng et al. 2022).
  * autoencoders, VAEs and VQ-VAEs: encode, then decode (latent diffusion: through its first stage).
  * EBM: Langevin descent on the energy (no added noise) from the noisy image.
  * flows (and GANs): MAP in latent space, argmin |render(u) - y|^2 / (2 sigma^2) + |u|^2 / 2,
    started from the encoding of the noisy image where the family has an encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..families.base import Engine
from .common import Method, ProgressFn, ToolError, check_progress, choose, to_float, to_uint8
from .langevin import clamped_langevin, is_ebm
from .latent_fit import can_fit, fit_latents


def _is(module: str, name: str):
    def check(cls: type) -> bool:
        import importlib

        return issubclass(cls, getattr(importlib.import_module(module), name))
    return check


METHODS = (
    Method("diffusion from the matching noise level (DDIM)", _is("engines.families.ddpm", "DDPMEngine")),
    Method("encode-decode (autoencoder)", lambda cls: _is("engines.families.ae", "AEEngine")(cls)
           or _is("engines.families.vae", "VAEEngine")(cls) or _is("engines.families.vqvae", "VQVAEEngine")(cls)),
    Method("MAP in latent space", can_fit),
    Method("Langevin descent on the energy (EBM)", is_ebm),
    Method("encode-decode through the first stage (latent diffusion)", _is("engines.families.ldm", "LDMEngine")),
)


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
    if m is METHODS[0]:
        out, name = _diffusion(engine, images, sigmas, seed, labels, progress, **options)
    elif m is METHODS[1]:
        out = engine.decode(engine.encode(images))
        name = m.name
        check_progress(progress, 1, 1)
    elif m is METHODS[2]:
        out, name = _map(engine, images, sigmas, seed, labels, progress, **options)
    elif m is METHODS[4]:
        out = engine.first.decode(engine.first.encode(images))
        name = m.name
        check_progress(progress, 1, 1)
    else:
        steps = int(options.get("steps") or engine.options.steps)
        x = clamped_langevin(engine, to_float(images, engine.device), steps, engine.options.step_size, 0.0,
                             progress=progress)
        out, name = to_uint8(x), f"Langevin descent on the energy ({steps} steps, no noise; EBM)"
    return DenoiseResult(out, sigmas, estimated, name)


def matching_step(engine, sigma: float) -> int:
    """The diffusion step t whose noise-to-signal ratio sqrt((1 - ab) / ab) is closest to sigma/127.5."""
    s = float(sigma) / 127.5
    ab = engine.schedule.alpha_bar.numpy()
    ratio = np.sqrt((1 - ab) / ab)
    return int(np.abs(ratio - s).argmin())


@torch.no_grad()
def _diffusion(engine, images, sigmas, seed, labels, progress, steps: int | None = None, **_ignored):
    from ..diffusion.samplers import DDIMScheduler, denoise as run_sampler

    out = images.copy()
    T = engine.config.timesteps
    per_full = int(steps or engine.options.steps)
    # images whose levels are close share one reverse run: start steps snapped to a grid of T / steps
    grain = max(1, T // max(per_full, 1))
    starts = np.array([min(T - 1, int(round(matching_step(engine, s) / grain)) * grain) if s > 0.5 else -1
                       for s in sigmas])
    groups = sorted(set(starts.tolist()))
    done = 0
    for t in groups:
        idx = np.flatnonzero(starts == t)
        if t < 0:  # no noise to speak of: the image is its own answer
            done += len(idx)
            continue
        sched = DDIMScheduler(engine.schedule, engine.config.prediction, eta=0.0)
        sched.set_timesteps_from(t, max(2, int(round(per_full * (t + 1) / T))))
        y = to_float(images[idx], engine.device)
        x = engine.schedule.alpha_bar_at(t, y).sqrt() * y
        if labels is not None and engine.conditional:
            den = engine._denoiser(engine._labels(len(idx), np.asarray(labels)[idx]))
        else:
            den = engine._denoiser(engine._null_labels(len(idx)), guidance=1.0)
        x, _ = run_sampler(den, sched, x, torch.Generator().manual_seed(int(seed)))
        out[idx] = to_uint8(x)
        done += len(idx)
        check_progress(progress, done, len(images))
    used = [t for t in groups if t >= 0]
    if not used:
        levels = "no noise to remove"
    elif len(used) <= 3:
        levels = "start " + ", ".join(f"t={t}" for t in used) + f" of {T}"
    else:
        levels = f"start t={used[0]}-{used[-1]} of {T}, per image"
    return out, f"diffusion from the matching noise level (DDIM, eta 0; {levels})"


def _map(engine, images, sigmas, seed, labels, progress, steps: int = 200, lr: float = 0.05, **_ignored):
    target = to_float(images, engine.device)
    s = torch.as_tensor(np.maximum(sigmas, 1.0) / 127.5, dtype=torch.float32, device=engine.device)

    def evidence(x):
        return ((x - target) ** 2).flatten(1).sum(1) / (2 * s ** 2)

    x = fit_latents(engine, evidence, len(images), 1, seed, int(steps), float(lr), 1.0, start=images,
                    labels=labels, progress=progress)
    return to_uint8(x), f"MAP in latent space ({int(steps)} steps; data term at the noise level + prior)"


__all__ = ["METHODS", "DenoiseResult", "denoise", "estimate_sigma", "add_noise", "matching_step", "method_for"]
