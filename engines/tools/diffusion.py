"""Tools over the prior role (capabilities.Prior): one pipeline for every diffusion or flow model.

A pipeline touches the model only through its role, as diffusers' pipelines touch a UNet and a
scheduler: `denoiser(labels, guidance)(x_t, t)`, `prior_sampler(...)` (timesteps, previous, step),
`noise_level(t)` = (a, s) with x_t = a x0 + s eps, `to_space/from_space`. So ddpm, flow-matching and
any later prior get inpainting, super-resolution, denoising and scoring without tool code of their own.

  * RePaint (Lugmayr et al., 2022): after every reverse step the known region is replaced by the real
    image noised to the level x has reached; each step is redone `resample` times, jumping back to the
    earlier level with fresh noise in between, so the generated part can agree with the known part.
    Masks: True = fill (the tools' one convention), False = keep.
  * ILVR (Choi et al., 2021): after every step the low frequencies of x are replaced by those of the
    reference (the small input enlarged) noised to the same level; with `up` repeating pixels this is a
    projection, so the result downsamples exactly to the input (the data consistency of DDRM-style methods).
  * denoising from the matching level: y = x + sigma n, scaled by a(t), is a sample of x_t at the
    time t where s(t) / a(t) = sigma (on the [-1, 1] scale); the deterministic sampler runs from
    there to the clean image (as in SDEdit, Meng et al. 2022).
  * the denoising error: the network's error on its own training target at fixed noise levels and
    draws (an anomaly score; latent priors score in their latent space).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from ..families import capabilities
from .common import ProgressFn, check_progress, consistent_with, evaluating, to_float


def in_pixels(cls) -> bool:
    """A prior over the pixels themselves (the image-space pipelines need one)."""
    return capabilities.has(cls, "prior") and cls.prior_space == "pixels"


def has_prior(cls) -> bool:
    return capabilities.has(cls, "prior")


def _denoiser(engine, labels):
    """The class-guided denoiser when labels are given to a conditional run, else the unconditional one."""
    return engine.denoiser(labels if labels is not None and engine.conditional else None)


def _noised(engine, x0: torch.Tensor, t, gen: torch.Generator) -> torch.Tensor:
    a, s = engine.noise_level(t)
    if s == 0:
        return x0
    return a * x0 + s * torch.randn(x0.shape, generator=gen).to(x0.device)


# --- RePaint ----------------------------------------------------------------------------------------------

@torch.no_grad()
def repaint(engine, images: np.ndarray, holes: np.ndarray, seed: int = 0, labels=None,
            progress: ProgressFn | None = None, steps: int | None = None, resample: int = 2,
            **_ignored) -> tuple[np.ndarray, str]:
    """uint8 images (n, H, W, C) with `holes` (n, H, W) True where to fill -> (uint8 images, method name)."""
    resample = max(1, int(resample))
    n = len(images)
    x0 = engine.to_space(images)
    known = torch.from_numpy(~np.asarray(holes, bool))[:, None].float().to(x0.device)
    den = _denoiser(engine, labels)
    sched = engine.prior_sampler(steps)
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.randn(x0.shape, generator=gen).to(x0.device)
    total = len(sched.timesteps)
    with evaluating(engine):
        for i, t in enumerate(sched.timesteps):
            prev = sched.previous(t)
            a_t, s_t = engine.noise_level(t)
            a_p, s_p = engine.noise_level(prev)
            for r in range(resample):
                x_prev = sched.step(den(x, t), t, x, gen)
                x_prev = known * _noised(engine, x0, prev, gen) + (1 - known) * x_prev
                if r + 1 < resample and s_p > 0:   # jump back to t with fresh noise and redo the step
                    ratio = a_t / a_p              # x_t = ratio x_prev + sqrt(s_t^2 - ratio^2 s_prev^2) eps
                    extra = max(0.0, s_t ** 2 - (ratio * s_p) ** 2) ** 0.5
                    x = ratio * x_prev + extra * torch.randn(x0.shape, generator=gen).to(x0.device)
                else:
                    x = x_prev
            check_progress(progress, i + 1, total)
    name = (f"RePaint ({sched.label}, {total} steps, {resample} resample{'s' if resample > 1 else ''} per step)")
    return engine.from_space(x), name


# --- ILVR super-resolution -----------------------------------------------------------------------------------

def _downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="area") if x.shape[-1] != size else x


@torch.no_grad()
def ilvr(engine, low: np.ndarray, seed: int = 0, labels=None, progress: ProgressFn | None = None,
         steps: int | None = None, **_ignored) -> tuple[np.ndarray, str]:
    """uint8 (n, h, h, C) smaller than the run's size -> (uint8 (n, S, S, C), method name)."""
    n, small = len(low), low.shape[1]
    c, size, _ = engine.prior_shape()
    y = to_float(low, engine.device)

    def phi(x):  # the low-pass filter: area down to the input's size, back up by repeating pixels; with
        # an integer factor that is a projection (down(x - phi(x)) = 0), so the result downsamples to the input
        return F.interpolate(_downsample(x, small), size=(size, size), mode="nearest")

    ref = F.interpolate(y, size=(size, size), mode="nearest")  # its low frequencies are the ones to keep
    gen = torch.Generator().manual_seed(int(seed))
    den = _denoiser(engine, labels)
    sched = engine.prior_sampler(steps)
    x = torch.randn((n, c, size, size), generator=gen).to(engine.device)
    total = len(sched.timesteps)
    with evaluating(engine):
        for i, t in enumerate(sched.timesteps):
            x = sched.step(den(x, t), t, x, gen)
            x = x - phi(x) + phi(_noised(engine, ref, sched.previous(t), gen))
            check_progress(progress, i + 1, total)
    # the pixel range and the consistency together (common.consistent_with): clipping a dark or bright
    # region alone would shift its block means away from the input
    x = consistent_with(x, y)
    return engine.from_space(x), f"ILVR diffusion ({total} steps; low frequencies from the {small} px input at every step)"


# --- denoising from the matching noise level ----------------------------------------------------------------------

def matching_time(engine, sigma: float):
    """The trained time whose noise-to-signal ratio s(t) / a(t) is closest to sigma / 127.5, and its index."""
    times = list(engine.prior_times())
    ratio = np.array([s / max(a, 1e-12) for a, s in (engine.noise_level(t) for t in times)])
    i = int(np.abs(ratio - float(sigma) / 127.5).argmin())
    return times[i], i


@torch.no_grad()
def denoise_from_level(engine, images: np.ndarray, sigmas: np.ndarray, seed: int = 0, labels=None,
                       progress: ProgressFn | None = None, steps: int | None = None,
                       **_ignored) -> tuple[np.ndarray, str]:
    """uint8 noisy images and their noise levels (0-255 scale) -> (uint8 images, method name)."""
    out = images.copy()
    times = list(engine.prior_times())
    count = len(times)
    per_full = int(steps or engine.sampling_options().steps)
    # images whose levels are close share one reverse run: start indices snapped to a grid of count / steps
    grain = max(1, count // max(per_full, 1))
    starts = np.array([min(count - 1, int(round(matching_time(engine, s)[1] / grain)) * grain) if s > 0.5 else -1
                       for s in sigmas])
    groups = sorted(set(starts.tolist()))
    done = 0
    with evaluating(engine):
        for g in groups:
            idx = np.flatnonzero(starts == g)
            if g < 0:  # no noise to speak of: the image is its own answer
                done += len(idx)
                continue
            t = times[g]
            sched = engine.prior_sampler(max(2, int(round(per_full * (g + 1) / count))), start=t, deterministic=True)
            y = to_float(images[idx], engine.device)
            x = engine.noise_level(t)[0] * y
            den = _denoiser(engine, None if labels is None else np.asarray(labels)[idx])
            for tt in sched.timesteps:
                x = sched.step(den(x, tt), tt, x)
            out[idx] = engine.from_space(x)
            done += len(idx)
            check_progress(progress, done, len(images))
    used = [f"{times[g]:.3g}" if isinstance(times[g], float) else str(times[g]) for g in groups if g >= 0]
    if not used:
        levels = "no noise to remove"
    elif len(used) <= 3:
        levels = "start " + ", ".join(f"t={t}" for t in used) + f" of {count}"
    else:
        levels = f"start t={used[0]}-{used[-1]} of {count}, per image"
    label = engine.prior_sampler(2, deterministic=True).label
    return out, f"diffusion from the matching noise level ({label}, deterministic; {levels})"


# --- the denoising error (an anomaly score) ---------------------------------------------------------------------------

@torch.no_grad()
def denoising_error(engine, images: np.ndarray, seed: int = 0, levels: int = 8) -> np.ndarray:
    """Mean squared error of the network's target (eps, v or velocity) at `levels` noise levels spread
    over the trained times (2%-70% of the way to pure noise), in the prior's space, with noise drawn from
    a fixed seed (the same draws for every image set)."""
    x0 = engine.to_space(images)
    times = list(engine.prior_times())
    den = engine.denoiser(None)
    gen = torch.Generator().manual_seed(int(seed) + 7)
    total = torch.zeros(len(x0), dtype=torch.float64)
    picks = np.unique(np.linspace(0.02 * len(times), 0.7 * len(times), levels).astype(int))
    with evaluating(engine):
        for i in picks:
            t = times[int(i)]
            eps = torch.randn(x0.shape, generator=gen).to(x0.device)
            a, s = engine.noise_level(t)
            out = den(a * x0 + s * eps, t)
            total += (out.float() - engine.prediction_target(x0, eps, t)).pow(2).flatten(1).mean(1).double().cpu()
    return (total / len(picks)).numpy()


__all__ = ["in_pixels", "has_prior", "repaint", "ilvr", "matching_time", "denoise_from_level", "denoising_error"]
