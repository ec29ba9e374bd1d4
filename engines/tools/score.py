"""Anomaly scoring: one number per image, higher = more unusual for the model.

Pipelines over roles, the first that the model has (capabilities.has):
  * likelihood (flows, PixelCNN, the pixel transformer; VAEs with the ELBO, a bound): bits/dim, corrected
    for image complexity as in Serrà et al. (ICLR 2020, "Input complexity and out-of-distribution
    detection with likelihood-based generative models"): raw likelihood prefers simple images even when
    they are out of distribution, so the score is bits/dim minus the image's own lossless (PNG) bits/dim.
  * prior (ddpm, flow-matching, latent diffusion): the denoising error (the network's error on its
    training target at fixed noise levels and draws; latent priors in their latent space).
  * reconstructor (autoencoders, VQ-VAEs): reconstruction error.
  * latent renderer (GANs): projection error (how well the model can reproduce the image after
    optimising its latent).
  * energy (EBMs): the energy (low on the data the model was trained on).
Class-conditional models score p(x) with the class summed out (uniform over classes), or the
best class where a sum is not meaningful (reconstruction, projection).

The run's held-out split is the reference: its scores give a threshold at a chosen false-positive
rate (the share of held-out images that would be flagged) and the histogram the studio draws.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..families.base import Engine
from . import diffusion
from .common import (Method, ProgressFn, ToolError, check_progress, choose, evaluating, few_held_out, role, to_float,
                     to_uint8)

LOG2 = math.log(2.0)


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

    @property
    def caution(self) -> str:
        """Why the threshold is rough ('' when it is not): fewer held-out images than one false positive
        at the chosen rate takes, so it sits at (or near) the largest reference score."""
        n = len(self.scores)
        if not n or n * self.fpr >= 1:
            return ""
        need = math.ceil(1 / self.fpr - 1e-9)
        return few_held_out(n, max(need, n + 1), f"a threshold at {self.fpr:.0%} false positives")


def method_for(engine) -> Method:
    """The method for this run, named for it: the likelihood says whether it is exact (a VAE's ELBO is
    a bound), a latent prior says it scores in its latent space."""
    m = choose(METHODS, engine, "score images")
    if m.run is _bits:
        return replace(m, name="bits/dim (exact likelihood)" if engine.exact else "negative ELBO (bits/dim bound)")
    if m.run is _denoising and engine.prior_space != "pixels":
        return replace(m, name="denoising loss in the prior's latent space (latent diffusion)")
    return m


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
    name = m.name
    n = len(images)
    parts = []
    total = max(1, math.ceil(n / batch_size))
    for b, i in enumerate(range(0, n, batch_size)):
        parts.append(m.run(engine, images[i:i + batch_size], seed, projection_steps))
        check_progress(progress, b + 1, total)
    raw = np.concatenate(parts) if parts else np.zeros(0)
    if m.run is _bits:
        if complexity:
            png = png_bits_per_dim(images)
            return ScoreResult(raw - png, name + " minus PNG bits/dim (Serrà et al. 2020)", "bits/dim", raw, png)
        return ScoreResult(raw, name, "bits/dim", raw, None)
    return ScoreResult(raw, name, _unit(engine, m))


# --- methods ----------------------------------------------------------------------------------------------

@torch.no_grad()
def _bits(engine, images: np.ndarray, seed: int, projection_steps: int = 0) -> np.ndarray:
    """The Likelihood role's bits/dim (a conditional run with the class summed out)."""
    try:
        out = engine.bits_per_dim(images)
    except NotImplementedError as exc:
        raise ToolError(f"this {engine.family} run has no bits/dim over pixels to score with ({exc})") from None
    return np.asarray(out, dtype=np.float64).reshape(len(images))


def _denoising(engine, images: np.ndarray, seed: int, projection_steps: int = 0) -> np.ndarray:
    return diffusion.denoising_error(engine, images, seed)


@torch.no_grad()
def _reconstruction(engine, images: np.ndarray, seed: int = 0, projection_steps: int = 0) -> np.ndarray:
    recon = engine.reconstruct(images)
    return ((recon.astype(np.float64) - images.astype(np.float64)) ** 2).reshape(len(images), -1).mean(1)


def _projection(engine, images: np.ndarray, seed: int, steps: int, restarts: int = 2) -> np.ndarray:
    """The error (0-255 scale) of the best of `restarts` latent fits of each image by the renderer role
    (per-pixel squared error with a weak pull towards the prior), over the classes of a conditional run."""
    from .latent_fit import fit_latents

    n = len(images)
    target = to_float(images, engine.device).repeat_interleave(restarts, 0)
    weight = 2e-3 / float(np.prod(engine.latent_shape()))   # 1e-3 * mean(u^2): a weak pull

    def evidence(x):
        return (x - target).pow(2).flatten(1).mean(1)

    best = None
    for c in [None] if not engine.conditional else range(engine.data.num_classes):
        labels = None if c is None else np.full(n, c, dtype=np.int64)
        x = fit_latents(engine, evidence, n, restarts, seed, int(steps), 0.05, weight, labels=labels)
        recon = to_uint8(x).astype(np.float64).reshape(n, restarts, -1)
        err = ((recon - images.astype(np.float64).reshape(n, 1, -1)) ** 2).mean(2).min(1)
        best = err if best is None else np.minimum(best, err)
    return best


@torch.no_grad()
def _energy(engine, images: np.ndarray, seed: int = 0, projection_steps: int = 0) -> np.ndarray:
    with evaluating(engine):
        return engine.energy(to_float(images, engine.device)).double().cpu().numpy()


METHODS = (
    Method("bits/dim (likelihood)", role("likelihood"), _bits),
    Method("denoising loss (diffusion or flow prior)", role("prior"), _denoising),
    Method("reconstruction error (autoencoder)", role("reconstruct"), _reconstruction),
    Method("projection error (generator)", role("renderer"), _projection),
    Method("energy", role("energy"), _energy),
)


def _unit(engine, m: Method) -> str:
    if m.run is _denoising:
        return "MSE" if engine.prior_space == "pixels" else "MSE (normalised latents)"
    return {_energy: "energy"}.get(m.run, "MSE (0-255 scale)")


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
