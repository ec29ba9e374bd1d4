"""Inpainting (imputation): fill the pixels a mask marks, keep every other pixel exactly.

Methods, chosen from what the family is:
  * diffusion: RePaint (Lugmayr et al., 2022): after every reverse step the known region is replaced
    by the real image noised to the same level; each step is redone `resample` times, jumping back one
    step with fresh forward noise in between, so the generated part can agree with the known part.
  * PixelCNN: when every hole pixel comes after every known pixel in raster order, sampling the hole
    pixel by pixel given what precedes it is exact conditional sampling. Otherwise the raster pass is
    followed by Metropolis-within-Gibbs sweeps over the hole (proposal: the pixel's conditional given
    the pixels before it; acceptance: the full likelihood ratio, so later known pixels count).
  * VAE, autoencoder, flows, GANs: the latent is optimised so the rendering matches the known pixels,
    with the prior as regulariser (engines/tools/latent_fit.py).
Masks: True (or white in a mask image) = fill, False = keep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..families.base import Engine
from .common import Method, ProgressFn, ToolError, check_progress, choose, has_capability, to_float, to_uint8
from .langevin import clamped_langevin, is_ebm
from .latent_fit import can_fit, fit_latents


def _is(module: str, name: str):
    def check(cls: type) -> bool:
        import importlib

        return issubclass(cls, getattr(importlib.import_module(module), name))
    return check


METHODS = (
    Method("RePaint (diffusion, known region replaced at every step, resampling)", _is("engines.families.ddpm", "DDPMEngine")),
    Method("PixelCNN conditional sampling (exact in raster order, else Gibbs resampling)",
           _is("engines.families.pixelcnn", "PixelCNNEngine")),
    Method("latent optimisation (known pixels + prior)", can_fit),
    Method("Langevin sampling with the known pixels clamped (EBM)", is_ebm),
    Method("pixel transformer conditional sampling (exact in raster order, else Gibbs resampling)",
           _is("engines.families.transformer", "TransformerEngine")),
)


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
    rep = np.repeat(images, k, axis=0)
    rep_holes = np.repeat(holes, k, axis=0)
    rep_labels = None if labels is None else np.repeat(np.asarray(labels, np.int64), k)
    if m is METHODS[0]:
        out, name = _repaint(engine, rep, rep_holes, seed, rep_labels, progress, **options)
    elif m is METHODS[1]:
        out, name = _pixelcnn(engine, rep, rep_holes, seed, rep_labels, progress, **options)
    elif m is METHODS[2]:
        out, name = _latent(engine, images, holes, k, seed, labels, progress, **options)
    elif m is METHODS[3]:
        out, name = _langevin(engine, rep, rep_holes, seed, progress, **options)
    else:
        out, name = _transformer(engine, rep, rep_holes, seed, rep_labels, progress, **options)
    out = np.where(rep_holes[..., None], out, rep)  # known pixels exactly as they were
    return InpaintResult(out.reshape((n, k) + images.shape[1:]), name)


# --- diffusion ----------------------------------------------------------------------------------------

def _repaint(engine, images, holes, seed, labels, progress, steps: int | None = None, resample: int = 2,
             **_ignored) -> tuple[np.ndarray, str]:
    from dataclasses import replace

    resample = max(1, int(resample))
    saved = engine.options
    if steps:
        engine.options = replace(saved, steps=int(steps))
    try:
        return _repaint_run(engine, images, holes, seed, labels, progress, resample)
    finally:
        engine.options = saved


@torch.no_grad()
def _repaint_run(engine, images, holes, seed, labels, progress, resample):
    n = len(images)
    x0 = to_float(images, engine.device)
    known = torch.from_numpy(~holes)[:, None].float().to(engine.device)
    if labels is not None and engine.conditional:
        den = engine._denoiser(engine._labels(n, labels))
    else:
        den = engine._denoiser(engine._null_labels(n), guidance=1.0)
    sched = engine._scheduler()
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.randn(x0.shape, generator=gen).to(engine.device)
    sch = engine.schedule
    total = len(sched.timesteps)
    for i, t in enumerate(sched.timesteps):
        prev = sched.previous(t)
        for r in range(resample):
            x_prev = sched.step(den(x, t), t, x, gen)
            if prev >= 0:
                noise = torch.randn(x0.shape, generator=gen).to(engine.device)
                known_x = sch.add_noise(x0, noise, torch.full((n,), prev))
            else:
                known_x = x0
            x_prev = known * known_x + (1 - known) * x_prev
            if r + 1 < resample and prev >= 0:   # jump back to t with fresh noise and redo the step
                ratio = sch.alpha_bar_at(t, x_prev) / sch.alpha_bar_at(prev, x_prev)
                x = ratio.sqrt() * x_prev + (1 - ratio).sqrt() * torch.randn(x0.shape, generator=gen).to(engine.device)
            else:
                x = x_prev
        check_progress(progress, i + 1, total)
    sampler = engine.options.sampler.upper() if engine.options.sampler == "ddim" else engine.options.sampler
    return to_uint8(x), f"RePaint ({sampler}, {total} steps, {resample} resample{'s' if resample > 1 else ''} per step)"


# --- PixelCNN -----------------------------------------------------------------------------------------

def raster_suffix(holes: np.ndarray) -> np.ndarray:
    """Per image: True when every hole pixel comes after every known pixel in raster order."""
    flat = holes.reshape(len(holes), -1)
    out = np.empty(len(holes), bool)
    for i, row in enumerate(flat):
        idx = np.flatnonzero(row)
        out[i] = idx.size == 0 or not (~row[idx[0]:]).any()
    return out


def _subpixel_logits(engine, out: torch.Tensor) -> torch.Tensor:
    """Outputs of one subpixel (n, P) -> log-probabilities (n, 256) (softmax logits or a logistic mixture)."""
    from ..families.pixelcnn import mixture_log_probs

    return mixture_log_probs(out.float()) if engine.mixture else F.log_softmax(out.float(), dim=1)


def _joint(engine, net, pixels: torch.Tensor, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-likelihood per image in nats, network outputs (B, P, C, H, W)) of uint8 pixels (B, C, H, W)."""
    from ..families.pixelcnn import mixture_nll

    out = net(pixels.float() / 127.5 - 1.0, labels)
    if engine.mixture:
        nll = mixture_nll(out.float(), pixels)
    else:
        nll = F.cross_entropy(out.float(), pixels.long(), reduction="none")
    return -nll.flatten(1).sum(1), out


@torch.no_grad()
def _pixelcnn(engine, images, holes, seed, labels, progress, sweeps: int = 2, **_ignored):
    from ..families.pixelcnn import autoregress

    n, size, c = len(images), engine.data.size, engine.data.channels
    net = engine.model
    was = net.training
    net.eval()
    gen = torch.Generator().manual_seed(int(seed))
    known_vals = torch.from_numpy(images).permute(0, 3, 1, 2).to(engine.device)
    hole_t = torch.from_numpy(holes).to(engine.device)
    y = None
    if engine.conditional:
        if labels is not None:
            y = torch.as_tensor(labels, dtype=torch.long, device=engine.device)
        else:  # the class under which the known pixels are most likely (holes filled with grey meanwhile)
            grey = torch.where(hole_t[:, None], torch.full_like(known_vals, 128), known_vals)
            scores = []
            for cls in range(engine.data.num_classes):
                lab = torch.full((n,), cls, dtype=torch.long, device=engine.device)
                out = net(grey.float() / 127.5 - 1.0, lab).float()
                from ..families.pixelcnn import mixture_nll
                nll = mixture_nll(out, grey) if engine.mixture else F.cross_entropy(out, grey.long(), reduction="none")
                scores.append((-nll * (~hole_t)[:, None]).flatten(1).sum(1))
            y = torch.stack(scores, 1).argmax(1)
    temperature = engine.temperature
    exact = raster_suffix(holes)
    gibbs = not exact.all()
    positions = [tuple(p) for p in np.argwhere(holes.any(0))] if gibbs else []
    total = size + max(0, int(sweeps)) * len(positions) * c if gibbs else size

    def draw(out, i, j, ch):
        probs = torch.softmax(_subpixel_logits(engine, out) / temperature, dim=1).cpu()
        sampled = torch.multinomial(probs, 1, generator=gen)[:, 0].to(engine.device)
        return torch.where(hole_t[:, i, j], sampled, known_vals[:, ch, i, j].long())

    try:
        pixels = autoregress(net, n, size, y, draw, progress if not gibbs else
                             (lambda d, t: check_progress(progress, d, total)), engine.device)
        if not gibbs:
            return pixels.permute(0, 2, 3, 1).cpu().numpy(), "PixelCNN exact conditional sampling (hole after the known pixels in raster order)"
        done = size
        ll, outs = _joint(engine, net, pixels, y)
        active = torch.from_numpy(~exact).to(engine.device)
        for _ in range(max(0, int(sweeps))):
            for (i, j) in positions:
                for ch in range(c):
                    where = hole_t[:, i, j] & active
                    if where.any():
                        logq = F.log_softmax(_subpixel_logits(engine, outs[:, :, ch, i, j]) / temperature, dim=1)
                        new = torch.multinomial(logq.exp().cpu(), 1, generator=gen)[:, 0].to(engine.device)
                        old = pixels[:, ch, i, j].long()
                        proposal = pixels.clone()
                        proposal[:, ch, i, j] = torch.where(where, new, old).to(torch.uint8)
                        ll_new, outs_new = _joint(engine, net, proposal, y)
                        # target p(x)^(1/T); proposal q = the pixel's own conditional (tempered alike)
                        log_ratio = (ll_new - ll) / temperature + logq.gather(1, old[:, None])[:, 0] \
                            - logq.gather(1, new[:, None])[:, 0]
                        u = torch.rand(n, generator=gen).to(engine.device)
                        accept = where & (u.log() < log_ratio.clamp(max=0))
                        pixels = torch.where(accept[:, None, None, None], proposal, pixels)
                        ll = torch.where(accept, ll_new, ll)
                        outs = torch.where(accept[:, None, None, None, None], outs_new, outs)
                    done += 1
                    check_progress(progress, done, total)
        return (pixels.permute(0, 2, 3, 1).cpu().numpy(),
                f"PixelCNN raster pass + {int(sweeps)} Gibbs sweep{'s' if int(sweeps) != 1 else ''} (Metropolis-Hastings; "
                f"known pixels come after the hole)")
    finally:
        net.train(was)


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


@torch.no_grad()
def _transformer(engine, images, holes, seed, labels, progress, sweeps: int = 2, **_ignored):
    from ..families.transformer import dequantise, quantise

    if engine.tokens_variant:
        raise ToolError("a transformer over VQ-VAE tokens cannot inpaint pixels; the pixels variant, PixelCNN, "
                        "diffusion and the latent families can")
    n, size, dev = len(images), engine.data.size, engine.device
    levels = engine.config.levels
    net = engine.net
    was = net.training
    net.eval()
    gen = torch.Generator().manual_seed(int(seed))
    pix = torch.from_numpy(images).permute(0, 3, 1, 2).to(dev)
    known_tok = quantise(pix, levels).to(dev)                         # (n, L)
    hole = torch.from_numpy(holes.reshape(n, -1)).to(dev)
    temperature = float(engine.options.temperature)

    def joint(seq, start):
        logits = net(start, seq[:, :-1]).float()
        lp = F.log_softmax(logits, dim=-1)
        return lp.gather(-1, seq[..., None])[..., 0].sum(1), lp

    if engine.conditional and labels is not None:
        start = engine._starts(torch.as_tensor(labels, dtype=torch.long, device=dev), n)
    elif engine.conditional:  # the class under which the known pixels are most likely
        filler = torch.where(hole, torch.full_like(known_tok, int(known_tok.float().mean().round())), known_tok)
        per = []
        for c in range(engine.data.num_classes):
            st = engine._starts(torch.full((n,), c, dtype=torch.long, device=dev), n)
            _, lp = joint(filler, st)
            per.append((lp.gather(-1, filler[..., None])[..., 0] * (~hole)).sum(1))
        start = engine._starts(torch.stack(per, 1).argmax(1), n)
    else:
        start = engine._starts(None, n)
    exact = raster_suffix(holes)
    positions = np.flatnonzero(holes.reshape(n, -1).any(0)) if not exact.all() else np.zeros(0, int)
    total = size + int(sweeps) * len(positions)
    try:
        seq = torch.zeros(n, engine.length, dtype=torch.long, device=dev)
        caches = [{} for _ in net.blocks]
        for i in range(engine.length):
            logits = net(start if i == 0 else None, seq[:, i - 1:i] if i else seq[:, :0], caches, offset=i)
            choice = engine._choose(logits[:, -1], gen).to(dev)
            seq[:, i] = torch.where(hole[:, i], choice, known_tok[:, i])
            if (i + 1) % size == 0:
                check_progress(progress, (i + 1) // size, total)
        name = "pixel transformer exact conditional sampling (hole after the known pixels in raster order)"
        if len(positions):
            ll, lp = joint(seq, start)
            active = torch.from_numpy(~exact).to(dev)
            done = size
            for _ in range(int(sweeps)):
                for i in positions:
                    where = hole[:, i] & active
                    if where.any():
                        logq = F.log_softmax(lp[:, i] / temperature, dim=-1)
                        new = torch.multinomial(logq.exp().cpu(), 1, generator=gen)[:, 0].to(dev)
                        old = seq[:, i]
                        proposal = seq.clone()
                        proposal[:, i] = torch.where(where, new, old)
                        ll_new, lp_new = joint(proposal, start)
                        log_ratio = (ll_new - ll) / temperature + logq.gather(1, old[:, None])[:, 0] \
                            - logq.gather(1, new[:, None])[:, 0]
                        u = torch.rand(n, generator=gen).to(dev)
                        accept = where & (u.log() < log_ratio.clamp(max=0))
                        seq = torch.where(accept[:, None], proposal, seq)
                        ll = torch.where(accept, ll_new, ll)
                        lp = torch.where(accept[:, None, None], lp_new, lp)
                    done += 1
                    check_progress(progress, done, total)
            name = (f"pixel transformer raster pass + {int(sweeps)} Gibbs sweeps (Metropolis-Hastings; "
                    f"known pixels come after the hole)")
    finally:
        net.train(was)
    return dequantise(seq, levels, engine.data.channels, size), name


def _langevin(engine, images, holes, seed, progress, steps: int | None = None, **_ignored):
    o = engine.options
    steps = int(steps or o.steps)
    gen = torch.Generator().manual_seed(int(seed))
    values = to_float(images, engine.device)
    known = torch.from_numpy(~holes)[:, None].float().to(engine.device)
    x = (torch.rand(values.shape, generator=gen) * 2 - 1).to(engine.device)
    x = clamped_langevin(engine, x, steps, o.step_size, o.noise, known, values, gen, progress)
    return to_uint8(x), f"Langevin sampling ({steps} steps) with the known pixels clamped (EBM)"


__all__ = ["METHODS", "InpaintResult", "inpaint", "box_mask", "load_mask", "raster_suffix", "method_for"]
