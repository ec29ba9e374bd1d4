"""Fit a model's latent to partial evidence about an image (known pixels, a low-resolution copy, a
noisy copy), with the prior as regulariser: the shared pipeline behind inpainting, super-resolution
and denoising for every family with the latent renderer role (VAEs, autoencoders, flows, GANs).

    minimise  sum over evidence of (A(render_u(u)) - y)^2 / (2 s^2)  +  weight * |u|^2 / 2

`u` is a standard-normal latent (capabilities.LatentRenderer). Several random starts (candidates)
are optimised together; each gives one answer; where the family can encode (`renders_encoded`) the
first starts from the encoding of a given image.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..families import capabilities
from ..families.base import Engine
from .common import ProgressFn, check_progress, evaluating


def can_fit(cls: type) -> bool:
    return capabilities.has(cls, "renderer")


def fit_latents(engine: Engine, evidence: Callable[[torch.Tensor], torch.Tensor], n: int, candidates: int = 1,
                seed: int = 0, steps: int = 200, lr: float = 0.05, prior_weight: float = 1.0,
                start: np.ndarray | None = None, labels: np.ndarray | None = None,
                progress: ProgressFn | None = None) -> torch.Tensor:
    """Images in [-1, 1], (n * candidates, C, H, W) ordered image-major (image 0's candidates first).

    evidence(x) -> per-image data cost (n * candidates,) of rendered images x (the images of the
    evidence already repeated per candidate by the caller). `start`: uint8 images to encode as the
    first candidate's starting point when the family has an encoder (the others start at random).
    """
    lab = None
    if labels is not None and engine.conditional:
        lab = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=engine.device).reshape(n)
    per_u = None if lab is None else lab.repeat_interleave(candidates)
    dim = tuple(engine.latent_shape())
    gen = torch.Generator().manual_seed(int(seed))
    u = torch.randn((n * candidates, *dim), generator=gen).to(engine.device)
    flags = [(p, p.requires_grad) for m in engine.modules().values() for p in m.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        with evaluating(engine):
            if start is not None and engine.renders_encoded:
                with torch.no_grad():
                    first = engine.encode_u(np.ascontiguousarray(start),
                                            None if lab is None else lab.cpu().numpy()).float().reshape(n, *dim)
                u.view(n, candidates, *dim)[:, 0] = torch.nan_to_num(first).clamp(-6, 6)
            u.requires_grad_(True)
            opt = torch.optim.Adam([u], lr=lr)
            with torch.enable_grad():  # also when a caller runs tools under no_grad
                for i in range(steps):
                    opt.zero_grad(set_to_none=True)
                    x = engine.render_u(u, per_u)
                    loss = evidence(x).sum() + prior_weight * 0.5 * u.pow(2).flatten(1).sum(1).sum()
                    loss.backward()
                    opt.step()
                    check_progress(progress, i + 1, steps)
            with torch.no_grad():
                return engine.render_u(u, per_u).float().clamp(-1, 1)
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
