"""Tools over the autoregressive role (capabilities.Autoregressive): PixelCNN, the pixel transformer and
any later model of a token sequence in raster order.

Inpainting: when every hole token comes after every known token in raster order, sampling the hole
token by token given what precedes it is exact conditional sampling. Otherwise the raster pass is
followed by Metropolis-within-Gibbs sweeps over the hole (proposal: the token's conditional given the
tokens before it; acceptance: the full likelihood ratio, so later known tokens count). A conditional
run without a class asked for uses the class under which the known pixels are most likely.
The exact likelihood for scoring is the Likelihood role's bits_per_dim.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from .common import ProgressFn, check_progress, evaluating


def raster_suffix(holes: np.ndarray) -> np.ndarray:
    """Per image: True when every hole pixel comes after every known pixel in raster order."""
    flat = holes.reshape(len(holes), -1)
    out = np.empty(len(holes), bool)
    for i, row in enumerate(flat):
        idx = np.flatnonzero(row)
        out[i] = idx.size == 0 or not (~row[idx[0]:]).any()
    return out




def _best_class(engine, images: np.ndarray, holes: np.ndarray, hole: torch.Tensor) -> torch.Tensor:
    """The class under which the known tokens are most likely (the hole filled with mid-grey meanwhile)."""
    grey = images.copy()
    grey[holes] = 128
    filler = engine.to_sequence(grey)
    per = []
    for c in range(engine.data.num_classes):
        lab = torch.full((len(images),), c, dtype=torch.long, device=filler.device)
        per.append((engine.token_log_probs(filler, lab) * (~hole)).sum(1))
    return torch.stack(per, 1).argmax(1)


def hole_tokens(engine, hole_pixels: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
    """(n, H*W) pixel holes -> (n, L) token holes (the tokens of one pixel are consecutive)."""
    per = seq.shape[1] // hole_pixels.shape[1]
    return hole_pixels.repeat_interleave(per, dim=1)


@torch.no_grad()
def inpaint(engine, images: np.ndarray, holes: np.ndarray, seed: int = 0, labels=None,
            progress: ProgressFn | None = None, sweeps: int = 2, **_ignored) -> tuple[np.ndarray, str]:
    """uint8 images (n, H, W, C) with `holes` (n, H, W) True where to fill -> (uint8 images, method name)."""
    from .common import ToolError

    n = len(images)
    try:
        known = engine.to_sequence(images)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    dev = known.device
    hole_px = torch.from_numpy(np.asarray(holes, bool).reshape(n, -1)).to(dev)
    hole = hole_tokens(engine, hole_px, known)
    gen = torch.Generator().manual_seed(int(seed))
    temperature = float(engine.temperature)
    with evaluating(engine):
        if not engine.conditional:
            y = None
        elif labels is not None:
            y = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=dev)
        else:
            y = _best_class(engine, images, np.asarray(holes, bool), hole)
        exact = raster_suffix(holes)
        positions = np.flatnonzero(hole.any(0).cpu().numpy()) if not exact.all() else np.zeros(0, int)
        sweeps = max(0, int(sweeps))
        rows = engine.data.size
        total = rows + sweeps * len(positions)
        seq = engine.sample_sequence(n, gen, y, known, ~hole, lambda d, t: check_progress(progress, d, total))
        if not len(positions):
            return engine.to_images(seq), f"{engine.family} exact conditional sampling (hole after the known pixels in raster order)"
        ll = engine.token_log_probs(seq, y).sum(1)
        active = torch.from_numpy(~exact).to(dev)
        done = rows
        for _ in range(sweeps):
            for i in positions:
                where = hole[:, i] & active
                if where.any():
                    # target p(x)^(1/T); proposal q = the token's own conditional (tempered alike)
                    logq = F.log_softmax(engine.sequence_log_probs(seq, y, [i])[:, 0] / temperature, dim=-1)
                    new = torch.multinomial(logq.exp().cpu(), 1, generator=gen)[:, 0].to(dev)
                    old = seq[:, i]
                    proposal = seq.clone()
                    proposal[:, i] = torch.where(where, new, old)
                    ll_new = engine.token_log_probs(proposal, y).sum(1)
                    log_ratio = (ll_new - ll) / temperature + logq.gather(1, old[:, None])[:, 0] \
                        - logq.gather(1, new[:, None])[:, 0]
                    u = torch.rand(n, generator=gen).to(dev)
                    accept = where & (u.log() < log_ratio.clamp(max=0))
                    seq = torch.where(accept[:, None], proposal, seq)
                    ll = torch.where(accept, ll_new, ll)
                done += 1
                check_progress(progress, done, total)
    return engine.to_images(seq), (f"{engine.family} raster pass + {sweeps} Gibbs sweep{'s' if sweeps != 1 else ''} "
                                   f"(Metropolis-Hastings; known pixels come after the hole)")


__all__ = ["raster_suffix", "inpaint", "hole_tokens"]
