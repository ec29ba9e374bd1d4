"""Walking a model's latent space: interpolation paths, corner grids, random walks, and how real
images get there (encoder, exact inverse, DDIM inversion, or GAN projection by optimisation).

Everything works on latents of any shape (vectors for GANs and VAEs, image-shaped noise for flows
and diffusion): maths is done on the flattened vector of each latent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .families import capabilities
from .families.base import Cancelled, Engine

MODES = ("slerp", "lerp")


class LatentError(ValueError):
    """The model or the request does not allow this (no latent space, bad endpoint). For a person."""


# --- interpolation maths ---------------------------------------------------------------------------

def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation (Shoemake): follows the great circle between a and b.

    Gaussian latents live near a sphere; a straight line between two of them passes through the
    low-norm middle the model never saw in training, which slerp avoids. Norms are interpolated
    linearly, so for |a| = |b| the result keeps that norm exactly.
    """
    fa, fb = a.reshape(-1).double(), b.reshape(-1).double()
    na, nb = fa.norm(), fb.norm()
    if na < eps or nb < eps:
        return lerp(a, b, t)
    ua, ub = fa / na, fb / nb
    cos = torch.clamp(ua @ ub, -1.0, 1.0)
    omega = torch.arccos(cos)
    if omega < 1e-4:  # nearly parallel: the chord and the arc agree
        return lerp(a, b, t)
    so = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) / so) * ua + (torch.sin(t * omega) / so) * ub
    out = direction * ((1 - t) * na + t * nb)
    return out.to(a.dtype).reshape(a.shape)


def interpolate(a: torch.Tensor, b: torch.Tensor, t: float, mode: str = "slerp") -> torch.Tensor:
    if mode not in MODES:
        raise LatentError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return slerp(a, b, t) if mode == "slerp" else lerp(a, b, t)


def path(a: torch.Tensor, b: torch.Tensor, frames: int, mode: str = "slerp") -> torch.Tensor:
    """`frames` latents from a to b inclusive: shape (frames, *a.shape)."""
    if frames < 2:
        raise LatentError("an interpolation needs at least 2 frames")
    return torch.stack([interpolate(a, b, i / (frames - 1), mode) for i in range(frames)])


def corner_grid(corners: list[torch.Tensor], rows: int, columns: int, mode: str = "slerp") -> torch.Tensor:
    """A rows x columns grid between four corners (top-left, top-right, bottom-left, bottom-right)."""
    if len(corners) != 4:
        raise LatentError("a grid needs four corners")
    if rows < 2 or columns < 2:
        raise LatentError("a grid needs at least 2 rows and 2 columns")
    tl, tr, bl, br = corners
    out = []
    for r in range(rows):
        v = r / (rows - 1)
        left, right = interpolate(tl, bl, v, mode), interpolate(tr, br, v, mode)
        out.extend(interpolate(left, right, c / (columns - 1), mode) for c in range(columns))
    return torch.stack(out)


def random_walk(start: torch.Tensor, steps: int, step_size: float = 0.2, seed: int = 0) -> torch.Tensor:
    """A walk that stays Gaussian: z' = sqrt(1 - s^2) z + s n keeps N(0, I) samples N(0, I)."""
    if not 0 < step_size < 1:
        raise LatentError("step size must be between 0 and 1")
    gen = torch.Generator().manual_seed(int(seed))
    z = start.clone().float()
    out = [z]
    keep = math.sqrt(1 - step_size ** 2)
    for _ in range(steps - 1):
        z = keep * z + step_size * torch.randn(z.shape, generator=gen)
        out.append(z)
    return torch.stack(out)


# --- classes along a path (conditional runs) -------------------------------------------------------------

def can_mix_classes(engine: Engine) -> bool:
    """True when the run is class-conditional and its decode() takes class weights (soft labels)."""
    return (engine.conditional and capabilities.has(engine, "latent") and engine.class_mixing
            and engine.data.num_classes > 0)


def one_hot(label: int, num_classes: int) -> torch.Tensor:
    if not 0 <= int(label) < num_classes:
        raise LatentError(f"class {label} is not one of the run's {num_classes} classes")
    return torch.nn.functional.one_hot(torch.tensor(int(label)), num_classes).float()


def class_path(a: int, b: int, num_classes: int, frames: int) -> torch.Tensor:
    """Class weights (frames, num_classes) from class a to class b, at the same t = i / (frames - 1)
    as `path`, so latent and class move together. A straight line: every row is a probability vector."""
    if frames < 2:
        raise LatentError("an interpolation needs at least 2 frames")
    wa, wb = one_hot(a, num_classes), one_hot(b, num_classes)
    return torch.stack([lerp(wa, wb, i / (frames - 1)) for i in range(frames)])


def class_at(a: int, b: int, num_classes: int, t: float) -> torch.Tensor:
    """Class weights (1, num_classes) at position t between classes a and b (the slider)."""
    return lerp(one_hot(a, num_classes), one_hot(b, num_classes), float(t))[None]


def class_grid(corners: list[int], rows: int, columns: int, num_classes: int) -> torch.Tensor:
    """Class weights (rows * columns, num_classes) between four corner classes, laid out like
    `corner_grid`: bilinear, so each cell is the corners' mix at that cell's position."""
    if len(corners) != 4:
        raise LatentError("a grid needs four corners")
    if rows < 2 or columns < 2:
        raise LatentError("a grid needs at least 2 rows and 2 columns")
    tl, tr, bl, br = (one_hot(c, num_classes) for c in corners)
    out = []
    for r in range(rows):
        v = r / (rows - 1)
        left, right = lerp(tl, bl, v), lerp(tr, br, v)
        out.extend(lerp(left, right, c / (columns - 1)) for c in range(columns))
    return torch.stack(out)


def mix_caption(weights: torch.Tensor, class_names: list[str] | tuple[str, ...]) -> str:
    """A short caption for one row of class weights: "cat", or the two largest shares "cat 60% dog 40%"."""
    order = torch.argsort(weights, descending=True).tolist()
    if weights[order[0]] >= 0.995:
        return str(class_names[order[0]])
    return " ".join(f"{class_names[i]} {round(float(weights[i]) * 100)}%" for i in order[:2] if weights[i] > 0.005)


def decode_batches(engine: Engine, latents: torch.Tensor, weights: torch.Tensor | None = None,
                   chunk: int = 32, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """engine.decode in chunks, each latent with its row of class weights (or the engine's default class)."""
    out = []
    for i in range(0, len(latents), chunk):
        z = latents[i:i + chunk]
        out.append(engine.decode(z) if weights is None else engine.decode(z, labels=weights[i:i + chunk]))
        if progress is not None:
            progress(min(i + chunk, len(latents)), len(latents))
    return np.concatenate(out)


# --- reaching the latent space -----------------------------------------------------------------------

def latent_support(engine: Engine) -> str | None:
    """How real images reach this model's latent space, in words; None when they cannot."""
    return engine.encoding if capabilities.has(engine, "latent") else None


@dataclass
class Projection:
    latents: torch.Tensor
    reconstruction: np.ndarray  # uint8 (N, H, W, C)
    error: float                # mean squared error in [-1, 1] pixel units


def project(engine: Engine, images: np.ndarray, steps: int = 200, lr: float = 0.05, restarts: int = 4,
            seed: int = 0, progress: Callable[[int, int], None] | None = None,
            preview: Callable[[np.ndarray], None] | None = None, labels: np.ndarray | None = None) -> Projection:
    """Find latents whose rendering matches `images` (uint8 NHWC) by gradient descent.

    Several random starts are optimised together and the best one per image is kept: GAN latent
    spaces are not convex, and a single start often lands in a poor basin. Conditional runs: `labels`
    (one class index per image) is the class the generator renders while the latent is fitted.
    """
    target = torch.from_numpy(np.array(images, dtype=np.uint8, copy=True)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    target = target.to(engine.device)
    n = len(images)
    z = engine.random_latents(n * restarts, seed).to(engine.device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    tgt = target.repeat_interleave(restarts, 0)
    if labels is None:
        render, decode = engine.render, engine.decode
    else:
        y = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(n)
        render = lambda lat: engine.render(lat, labels=y.repeat_interleave(len(lat) // n))  # noqa: E731
        decode = lambda lat: engine.decode(lat, labels=y)  # noqa: E731
    # freeze every weight for the search, then give each back its own flag (moving-average copies stay frozen)
    flags = [(p, p.requires_grad) for m in engine.modules().values() for p in m.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        for i in range(steps):
            opt.zero_grad(set_to_none=True)
            per = (render(z) - tgt).pow(2).flatten(1).mean(1)
            # a weak pull towards the prior keeps latents where the generator was trained
            loss = per.sum() + 1e-3 * z.pow(2).flatten(1).mean(1).sum()
            loss.backward()
            opt.step()
            if progress is not None:
                progress(i + 1, steps)
            if preview is not None and (i % 20 == 0 or i == steps - 1):
                with torch.no_grad():
                    best = per.view(n, restarts).argmin(1)
                    pick = z.view(n, restarts, *z.shape[1:])[torch.arange(n), best]
                    preview(decode(pick.detach()))
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
    with torch.no_grad():
        per = (render(z) - tgt).pow(2).flatten(1).mean(1).view(n, restarts)
        best = per.argmin(1)
        latents = z.detach().view(n, restarts, *z.shape[1:])[torch.arange(n), best]
        return Projection(latents.cpu(), decode(latents), float(per.min(1).values.mean()))


def to_latents(engine: Engine, images: np.ndarray, progress: Callable[[int, int], None] | None = None,
               labels: np.ndarray | None = None, **projection_options) -> torch.Tensor:
    """Real images (uint8 NHWC at the model's size) -> latents, the way the family allows.

    `labels`: the images' classes on conditional runs (the encoder or the projection then knows the
    class, so the latent need not carry it); ignored by unconditional runs."""
    support = latent_support(engine)
    if support is None:
        raise LatentError(f"{engine.family} has no latent space to place images in")
    images = np.array(images, dtype=np.uint8, copy=True)  # writable: encoders hand it to torch
    if not engine.conditional:
        labels = None
    if not support.startswith("projection"):
        return engine.encode(images, labels=None if labels is None else np.asarray(labels, dtype=np.int64),
                             progress=progress)
    return project(engine, images, progress=progress, labels=labels, **projection_options).latents


def load_image_for(engine: Engine, path: str | Path) -> np.ndarray:
    """Read one image file and preprocess it to the model's size and channels: uint8 (1, H, W, C)."""
    from .data.decode import load_image, to_array

    im = load_image(path, "end point", error=LatentError)  # the one safe opener (engines/data/decode.py)
    try:
        arr = to_array(im, engine.data.size, engine.data.channels, "center-crop")
    except (OSError, ValueError) as exc:
        raise LatentError(f"{path} could not be converted ({type(exc).__name__})") from None
    return arr[None]


def endpoint_latent(engine: Engine, spec: str | int, seed_offset: int = 0,
                    progress: Callable[[int, int], None] | None = None,
                    label: int | None = None) -> tuple[torch.Tensor, str]:
    """A latent from a seed (an integer) or an image file; returns (latent, description).
    `label`: the image's class on conditional runs (see to_latents)."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().lstrip("-").isdigit()):
        seed = int(spec)
        if not 0 <= seed < 2**63:  # what torch.Generator takes; beyond it is an overflow, not a seed
            raise LatentError(f"seed {seed} is out of range: use a whole number from 0 to 2^63-1")
        return engine.random_latents(1, seed)[0], f"seed {seed}"
    labels = None if label is None else np.array([label], dtype=np.int64)
    return to_latents(engine, load_image_for(engine, spec), progress=progress, labels=labels)[0], Path(spec).name


__all__ = ["MODES", "LatentError", "lerp", "slerp", "interpolate", "path", "corner_grid", "random_walk",
           "latent_support", "project", "Projection", "to_latents", "load_image_for", "endpoint_latent",
           "can_mix_classes", "one_hot", "class_path", "class_at", "class_grid", "mix_caption", "decode_batches", "Cancelled"]
