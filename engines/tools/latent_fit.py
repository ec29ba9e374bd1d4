"""Fit a model's latent to partial evidence about an image (known pixels, a low-resolution copy, a
noisy copy), with the prior as regulariser: the shared method behind inpainting, super-resolution
and denoising for VAEs, autoencoders, flows and GANs.

    minimise  sum over evidence of (A(render(u)) - y)^2 / (2 s^2)  +  weight * |u|^2 / 2

`u` is a standard-normal latent: the VAE's and the GAN's z, a flow's standardised latents, the
autoencoder's code whitened by the Gaussian fitted to its training codes. Several random starts
(candidates) are optimised together; each gives one answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..families.base import Engine
from .common import ProgressFn, check_progress, overrides


@dataclass
class Renderer:
    """A differentiable map from standard-normal latents to images in [-1, 1]."""
    dim: tuple[int, ...]
    render: Callable[[torch.Tensor], torch.Tensor]
    encode: Callable[[np.ndarray], torch.Tensor] | None   # uint8 images -> u (a good starting point), if any
    kind: str


def renderer_kind(cls: type) -> str | None:
    """Which differentiable decoder a family has: 'vae', 'ae', 'flow', 'render' (GANs), or None."""
    from ..families.ae import AEEngine
    from ..families.vae import VAEEngine
    from .common import flow_engine_class

    FlowEngine = flow_engine_class()

    if issubclass(cls, VAEEngine):
        return "vae"
    if issubclass(cls, AEEngine):
        return "ae"
    if issubclass(cls, FlowEngine):
        return "flow"
    from ..families.ddpm import DDPMEngine
    if issubclass(cls, DDPMEngine):  # its 'render' would be a whole DDIM run: not a latent to fit
        return None
    if overrides(cls, "render"):
        return "render"
    return None


def can_fit(cls: type) -> bool:
    return renderer_kind(cls) is not None


def renderer(engine: Engine, labels: torch.Tensor | None = None) -> Renderer:
    kind = renderer_kind(type(engine))
    dev = engine.device
    if kind == "vae":
        lab = labels if engine.conditional else None

        def render(u):
            y = None if lab is None else lab.repeat_interleave(len(u) // len(lab))
            return engine._image_mean(*engine._decode_params(u, y))

        def encode(images):
            return engine.encode(images, labels=None if lab is None else lab.cpu().numpy()).to(dev)
        return Renderer((engine.config.latent_dim,), render, encode, kind)
    if kind == "ae":
        mean = engine.codes.mean.float().to(dev)
        scale = engine.codes.scale_matrix().float().to(dev)
        inv = torch.linalg.pinv(scale)

        def render(u):
            return torch.tanh(engine.decoder(mean + u @ scale.T))

        def encode(images):
            return (engine.encode(images).to(dev) - mean) @ inv.T
        return Renderer((engine.config.latent_dim,), render, encode, kind)
    if kind == "flow":
        flow = engine.model

        def render(u):
            return flow.decode(u).clamp(1e-4, 1 - 1e-4) * 2 - 1

        def encode(images):
            return engine.encode(images).to(dev)
        return Renderer((flow.latent_dim(),), render, encode, kind)
    if kind == "render":
        lab = labels if engine.conditional else None

        def render(u):
            y = None if lab is None else lab.repeat_interleave(len(u) // len(lab))
            return engine.render(u, labels=y) if y is not None else engine.render(u)
        probe = engine.random_latents(1, 0)
        return Renderer(tuple(probe.shape[1:]), render, None, kind)
    raise ValueError(f"{engine.family} has no latent to fit")


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
    r = renderer(engine, lab)
    gen = torch.Generator().manual_seed(int(seed))
    u = torch.randn((n * candidates, *r.dim), generator=gen).to(engine.device)
    if start is not None and r.encode is not None:
        with torch.no_grad():
            first = r.encode(np.ascontiguousarray(start)).float().reshape(n, *r.dim)
        u.view(n, candidates, *r.dim)[:, 0] = torch.nan_to_num(first).clamp(-6, 6)
    u.requires_grad_(True)
    opt = torch.optim.Adam([u], lr=lr)
    flags = [(p, p.requires_grad) for m in engine.modules().values() for p in m.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    modes = [(m, m.training) for m in engine.modules().values()]
    for m, _ in modes:
        m.eval()
    try:
        with torch.enable_grad():  # also when a caller runs tools under no_grad
            _optimise(r, u, opt, evidence, prior_weight, steps, progress)
        with torch.no_grad():
            return r.render(u).float().clamp(-1, 1)
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, mode in modes:
            m.train(mode)


def _optimise(r: Renderer, u: torch.Tensor, opt, evidence, prior_weight: float, steps: int, progress) -> None:
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        x = r.render(u)
        loss = evidence(x).sum() + prior_weight * 0.5 * u.pow(2).flatten(1).sum(1).sum()
        loss.backward()
        opt.step()
        check_progress(progress, i + 1, steps)
