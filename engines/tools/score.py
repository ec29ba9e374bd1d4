"""Anomaly scoring: one number per image, higher = more unusual for the model.

Methods, chosen from what the family can do:
  * bits/dim (flows, PixelCNN, any family with an exact likelihood), corrected for image complexity
    as in Serrà et al. (ICLR 2020, "Input complexity and out-of-distribution detection with
    likelihood-based generative models"): raw likelihood prefers simple images even when they are
    out of distribution, so the score is bits/dim minus the image's own lossless (PNG) bits/dim.
  * VAEs: the negative ELBO in bits/dim (an upper bound on -log2 p(x) per dimension), same correction.
  * diffusion: the denoising loss (noise-prediction error at fixed noise levels and draws); latent
    diffusion the same on its first stage's latents of the image.
  * EBMs: the energy (low on the data the model was trained on).
  * autoencoders (and VQ-VAEs): reconstruction error; GANs: projection error (how well the generator can
    reproduce the image after optimising its latent).
Class-conditional models score p(x) with the class summed out (uniform over classes), or the
best class where a sum is not meaningful (reconstruction, projection).

The run's held-out split is the reference: its scores give a threshold at a chosen false-positive
rate (the share of held-out images that would be flagged) and the histogram the studio draws.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from ..families.base import Engine
from .common import Method, ToolError, ProgressFn, check_progress, choose, has_capability, to_float
from .langevin import energy_of, is_ebm
from .latent_fit import renderer_kind

LOG2 = math.log(2.0)


def _is(module: str, name: str):
    def check(cls: type) -> bool:
        import importlib

        return issubclass(cls, getattr(importlib.import_module(module), name))
    return check


def _likelihood(cls: type) -> bool:
    """Exact likelihood families (flows, PixelCNN, the pixel transformer); VAEs have their own method (ELBO)."""
    if _is("engines.families.vae", "VAEEngine")(cls):
        return False
    return (_is("engines.families.pixelcnn", "PixelCNNEngine")(cls) or has_capability(cls, "likelihood")
            or _is("engines.families.transformer", "TransformerEngine")(cls))


METHODS = (
    Method("bits/dim (exact likelihood)", _likelihood),
    Method("negative ELBO (bits/dim bound)", _is("engines.families.vae", "VAEEngine")),
    Method("denoising loss (diffusion)", _is("engines.families.ddpm", "DDPMEngine")),
    Method("reconstruction error (autoencoder)", lambda cls: _is("engines.families.ae", "AEEngine")(cls)
           or _is("engines.families.vqvae", "VQVAEEngine")(cls)),
    Method("projection error (generator)", lambda cls: renderer_kind(cls) == "render"),
    Method("energy (EBM)", is_ebm),
    Method("denoising loss in the first stage's latent space (latent diffusion)", _is("engines.families.ldm", "LDMEngine")),
)
BITS_METHODS = (METHODS[0], METHODS[1])


@dataclass
class ScoreResult:
    scores: np.ndarray                  # float64 (N,), higher = more unusual
    method: str
    unit: str
    raw: np.ndarray | None = None       # bits/dim before the complexity correction (bits/dim methods)
    complexity: np.ndarray | None = None  # lossless PNG bits/dim of each image (when corrected)

    @property
    def corrected(self) -> bool:
        return self.complexity is not None


@dataclass
class Reference:
    """The held-out split's scores and what follows from them."""
    scores: np.ndarray
    description: str
    fpr: float
    threshold: float = field(init=False)

    def __post_init__(self):
        self.threshold = float(np.quantile(self.scores, 1.0 - self.fpr)) if len(self.scores) else math.inf


def method_for(engine) -> Method:
    return choose(METHODS, engine, "score images")


def png_bits_per_dim(images: np.ndarray) -> np.ndarray:
    """Lossless PNG size (maximum compression) of each uint8 image in bits per subpixel."""
    from ..imaging import to_pil

    out = np.empty(len(images))
    for i, img in enumerate(images):
        buf = io.BytesIO()
        to_pil(np.asarray(img)).save(buf, format="PNG", optimize=True)
        out[i] = 8.0 * buf.tell() / img.size
    return out


def score(engine: Engine, images: np.ndarray, complexity: bool = True, batch_size: int = 64, seed: int = 0,
          progress: ProgressFn | None = None, projection_steps: int = 100) -> ScoreResult:
    """Scores of uint8 images (N, H, W, C) at the run's size. `complexity`: subtract PNG bits/dim
    from bits/dim scores (ignored by the other methods)."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    m = method_for(engine)
    n = len(images)
    parts = []
    total = max(1, math.ceil(n / batch_size))
    for b, i in enumerate(range(0, n, batch_size)):
        chunk = images[i:i + batch_size]
        if m is METHODS[0]:
            parts.append(_bits(engine, chunk, seed))
        elif m is METHODS[1]:
            parts.append(_elbo(engine, chunk, seed))
        elif m is METHODS[2]:
            parts.append(_denoising(engine, chunk, seed))
        elif m is METHODS[3]:
            parts.append(_reconstruction(engine, chunk))
        elif m is METHODS[4]:
            parts.append(_projection(engine, chunk, seed, projection_steps))
        elif m is METHODS[5]:
            parts.append(_energy(engine, chunk))
        else:
            parts.append(_latent_denoising(engine, chunk, seed))
        check_progress(progress, b + 1, total)
    raw = np.concatenate(parts) if parts else np.zeros(0)
    if m in BITS_METHODS:
        if complexity:
            png = png_bits_per_dim(images)
            return ScoreResult(raw - png, m.name + " minus PNG bits/dim (Serrà et al. 2020)", "bits/dim", raw, png)
        return ScoreResult(raw, m.name, "bits/dim", raw, None)
    unit = {METHODS[2]: "MSE", METHODS[5]: "energy", METHODS[6]: "MSE (normalised latents)"}.get(m, "MSE (0-255 scale)")
    return ScoreResult(raw, m.name, unit)


# --- methods --------------------------------------------------------------------------------------

@torch.no_grad()
def _bits(engine, images: np.ndarray, seed: int) -> np.ndarray:
    from ..families.pixelcnn import PixelCNNEngine

    if isinstance(engine, PixelCNNEngine) and engine.conditional:
        return _pixelcnn_marginal(engine, images)
    try:
        out = engine.bits_per_dim(images)  # the Likelihood capability
    except NotImplementedError as exc:
        raise ToolError(f"this {engine.family} run has no bits/dim over pixels to score with ({exc})") from None
    return np.asarray(out, dtype=np.float64).reshape(len(images))


def _pixelcnn_marginal(engine, images: np.ndarray) -> np.ndarray:
    """-log2 p(x) / D with the class summed out: p(x) = (1/K) sum_y p(x|y)."""
    from ..families.pixelcnn import mixture_nll

    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).to(engine.device)
    dims = pixels[0].numel()
    net = engine.model
    was = net.training
    net.eval()
    x = pixels.float() / 127.5 - 1.0

    def nll_given(labels):
        out = net(x, labels).float()
        nll = mixture_nll(out, pixels) if engine.mixture else F.cross_entropy(out, pixels.long(), reduction="none")
        return nll.flatten(1).sum(1).double()
    try:
        k = engine.data.num_classes
        per = torch.stack([nll_given(torch.full((len(x),), c, dtype=torch.long, device=engine.device))
                           for c in range(k)], 1)
    finally:
        net.train(was)
    nats = -(torch.logsumexp(-per, 1) - math.log(k))
    return (nats / (dims * LOG2)).cpu().numpy()


@torch.no_grad()
def _elbo(engine, images: np.ndarray, seed: int, draws: int = 4) -> np.ndarray:
    from ..families.vae import gaussian_kl

    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).to(engine.device)
    x = pixels.float() / 127.5 - 1.0
    dims = pixels[0].numel()
    engine.encoder.eval()
    engine.decoder.eval()
    if engine.likelihood is None:
        engine.likelihood = "logistic"
    gen = torch.Generator().manual_seed(int(seed) + 99)

    def neg_elbo(labels):
        mu, logvar = engine._posterior(x, labels)
        kl = gaussian_kl(mu, logvar).sum(1).double()
        recon = 0.0
        for _ in range(draws):
            z = mu + torch.randn(mu.shape, generator=gen).to(mu.device) * (0.5 * logvar).exp()
            recon = recon + engine._pixel_nll(pixels, *engine._decode_params(z, labels)).double()
        return recon / draws + kl
    if not engine.conditional:
        nats = neg_elbo(None)
    else:
        k = engine.num_classes
        per = torch.stack([neg_elbo(torch.full((len(x),), c, dtype=torch.long, device=engine.device))
                           for c in range(k)], 1)
        nats = -(torch.logsumexp(-per, 1) - math.log(k))
    return (nats / (dims * LOG2)).cpu().numpy()


@torch.no_grad()
def _latent_denoising(engine, images: np.ndarray, seed: int) -> np.ndarray:
    """Latent diffusion: the same denoising loss, on the first stage's normalised latents of the images."""
    z = engine.first.encode(np.ascontiguousarray(images)).float().to(engine.device)
    return _denoising(engine.diffusion, None, seed, x0=engine.norm.normalise(engine._as_grid(z)))


@torch.no_grad()
def _denoising(engine, images: np.ndarray | None, seed: int, levels: int = 8, x0: torch.Tensor | None = None) -> np.ndarray:
    """Mean squared error of the network's target (v or eps) at `levels` noise levels spread over
    the schedule, with noise drawn from a fixed seed (the same draws for every image set)."""
    x0 = to_float(images, engine.device) if x0 is None else x0
    net = engine._sampling_net()
    labels = engine._null_labels(len(x0))
    T = engine.config.timesteps
    gen = torch.Generator().manual_seed(int(seed) + 7)
    total = torch.zeros(len(x0), dtype=torch.float64)
    ts = np.unique(np.linspace(0.02 * T, 0.7 * T, levels).astype(int))
    for t in ts:
        eps = torch.randn(x0.shape, generator=gen).to(engine.device)
        tt = torch.full((len(x0),), int(t), dtype=torch.long, device=engine.device)
        out = net(engine.schedule.add_noise(x0, eps, tt), tt, labels)
        target = engine.schedule.target(engine.config.prediction, x0, eps, tt)
        total += (out.float() - target).pow(2).flatten(1).mean(1).double().cpu()
    return (total / len(ts)).numpy()


@torch.no_grad()
def _reconstruction(engine, images: np.ndarray) -> np.ndarray:
    recon = engine.decode(engine.encode(images))
    return ((recon.astype(np.float64) - images.astype(np.float64)) ** 2).reshape(len(images), -1).mean(1)


def _projection(engine, images: np.ndarray, seed: int, steps: int) -> np.ndarray:
    from ..latent import project

    best = None
    labels_list = [None] if not engine.conditional else list(range(engine.data.num_classes))
    for c in labels_list:
        lab = None if c is None else np.full(len(images), c, dtype=np.int64)
        with torch.enable_grad():
            p = project(engine, images, steps=steps, restarts=2, seed=seed, labels=lab)
        err = ((p.reconstruction.astype(np.float64) - images.astype(np.float64)) ** 2).reshape(len(images), -1).mean(1)
        best = err if best is None else np.minimum(best, err)
    return best


@torch.no_grad()
def _energy(engine, images: np.ndarray) -> np.ndarray:
    net = engine.net
    was = net.training
    net.eval()
    try:
        return energy_of(engine)(to_float(images, engine.device)).double().cpu().numpy()
    finally:
        net.train(was)


# --- the held-out reference -------------------------------------------------------------------------

def held_out_images(record: dict, engine: Engine, limit: int = 256) -> tuple[np.ndarray | None, str]:
    """The run's held-out split (re-made exactly as training made it), at most `limit` images, and a
    sentence saying what it is; (None, why) when there is none to be had."""
    from .common import run_split

    train, held, real, why = run_split(record, engine)
    if train is None:
        return None, why + ", so there is no held-out reference"
    if real:
        images, what = np.asarray(held.images), f"the run's held-out split ({len(held)} images"
    else:  # the family validates nothing, so training saw every image
        images = np.concatenate([np.asarray(train.images), np.asarray(held.images)])
        what = f"the run's training images ({len(images)}; this family keeps no held-out split"
    if len(images) > limit:
        images = images[np.sort(np.random.default_rng(0).choice(len(images), limit, replace=False))]
        what += f", {limit} of them"
    return images, what + ")"


def histogram(scores: np.ndarray, reference: np.ndarray | None, bins: int = 20) -> dict:
    """Shared bins over both sets: {"edges": [...], "counts": [...], "reference_counts": [...]}."""
    both = np.concatenate([scores, reference]) if reference is not None and len(reference) else np.asarray(scores)
    both = both[np.isfinite(both)]
    if both.size == 0:
        return {"edges": [], "counts": [], "reference_counts": []}
    lo, hi = float(both.min()), float(both.max())
    if hi <= lo:
        hi = lo + 1e-6
    edges = np.linspace(lo, hi, bins + 1)
    out = {"edges": edges.tolist(), "counts": np.histogram(scores, edges)[0].tolist()}
    out["reference_counts"] = np.histogram(reference, edges)[0].tolist() if reference is not None else []
    return out


def auroc(inliers: np.ndarray, outliers: np.ndarray) -> float:
    """Area under the ROC curve of 'score says outlier' (ties count half)."""
    a, b = np.asarray(inliers, np.float64), np.asarray(outliers, np.float64)
    if not len(a) or not len(b):
        return float("nan")
    allv = np.concatenate([a, b])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    i = 0
    while i < len(allv):  # average ranks over ties
        j = i
        while j + 1 < len(allv) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1
        i = j + 1
    rb = ranks[len(a):].sum()
    return float((rb - len(b) * (len(b) + 1) / 2) / (len(a) * len(b)))


__all__ = ["METHODS", "ScoreResult", "Reference", "score", "png_bits_per_dim", "held_out_images", "histogram",
           "auroc", "method_for"]
