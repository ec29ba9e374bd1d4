"""Likelihood in bits per dimension, the standard way for 8-bit images.

For discrete data x in {0..255}^D, bits/dim = -log2 p(x) / D. A continuous density on
uniformly dequantised data gives an upper bound on the discrete one (Theis et al., 2016);
`continuous_nll_to_bpd` applies the change of scale so both are on the same footing.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

LOG2 = math.log(2.0)


def nats_to_bits_per_dim(nll_nats: torch.Tensor | float, dims: int) -> torch.Tensor | float:
    """Negative log-likelihood of whole images in nats -> bits per dimension."""
    return nll_nats / (dims * LOG2)


def continuous_nll_to_bpd(nll_nats: torch.Tensor | float, dims: int, scale: float) -> torch.Tensor | float:
    """NLL (nats) of a density on data scaled as y = x_dequantised * scale / 256 -> discrete bits/dim.

    A density on y relates to one on the 0..256 grid by the Jacobian of the scaling:
    -log p_256(x) = -log p_y(y) - D log(scale / 256). E.g. scale=1 for data in [0, 1],
    scale=2 for data in [-1, 1].
    """
    return (nll_nats - dims * math.log(scale / 256.0)) / (dims * LOG2)


def uniform_bits_per_dim() -> float:
    """A model that gives every 8-bit value the same probability: exactly 8 bits/dim."""
    return math.log2(256)


# --- per-subpixel log-likelihoods of 8-bit data -------------------------------------------------
# Each function takes uint8 (or integer-valued) targets and the model's parameters of the same
# shape, and returns the negative log-probability in nats of every subpixel under a proper
# distribution over the 256 values (so the sum over an image, fed to nats_to_bits_per_dim, is an
# honest bits/dim). Means and scales live on the [-1, 1] scale that Batch.float() uses.

BIN_HALF_WIDTH = 1.0 / 255.0  # half the distance between neighbouring 8-bit values on [-1, 1]


def _to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 values 0..255 -> bin centres on [-1, 1]."""
    return x.float() / 127.5 - 1.0


def discretized_logistic_nll(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """-log P(x) for a logistic(mean, exp(log_scale)) integrated over each 8-bit value's bin.

    The two edge bins take the tails (0 gets (-inf, edge], 255 gets [edge, inf)), as in PixelCNN++
    (Salimans et al., 2017), so the 256 probabilities sum to one.
    """
    y = _to_unit_range(x)
    inv_s = torch.exp(-log_scale)
    upper = (y + BIN_HALF_WIDTH - mean) * inv_s
    lower = (y - BIN_HALF_WIDTH - mean) * inv_s
    log_cdf_upper = F.logsigmoid(upper)               # log sigmoid(u)
    log_survival_lower = F.logsigmoid(-lower)         # log (1 - sigmoid(l))
    # middle bins: sigmoid(u) - sigmoid(l) = sigmoid(u) * sigmoid(-l) * (1 - exp(l - u)) (exact identity)
    log_mid = log_cdf_upper + log_survival_lower + _log1m_exp(lower - upper)
    logp = torch.where(x == 0, log_cdf_upper, torch.where(x == 255, log_survival_lower, log_mid))
    return -logp


def _log1m_exp(a: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(a)) for a < 0 (clamped just below 0 so equal bounds stay finite)."""
    return torch.log(-torch.expm1(torch.clamp(a, max=-1e-12)))


def discretized_gaussian_nll(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """-log P(x) for a normal(mean, exp(log_scale)) integrated over each 8-bit value's bin (edges take tails)."""
    y = _to_unit_range(x)
    inv_s = torch.exp(-log_scale)
    upper = (y + BIN_HALF_WIDTH - mean) * inv_s
    lower = (y - BIN_HALF_WIDTH - mean) * inv_s
    log_cdf_upper = torch.special.log_ndtr(upper)
    log_survival_lower = torch.special.log_ndtr(-lower)
    # the middle bin as a difference on whichever side of the mean is numerically safer
    right = lower > 0
    hi = torch.where(right, log_survival_lower, log_cdf_upper)
    lo = torch.where(right, torch.special.log_ndtr(-upper), torch.special.log_ndtr(lower))
    log_mid = hi + _log1m_exp(lo - hi)
    logp = torch.where(x == 0, log_cdf_upper, torch.where(x == 255, log_survival_lower, log_mid))
    return -logp


def _log_geometric_sum(a: torch.Tensor, n: int) -> torch.Tensor:
    """log sum_{k=0}^{n-1} exp(k * a), stable for any a (the series' closed form, Taylor near a = 0)."""
    small = a.abs() < 1e-5
    a_safe = torch.where(small, torch.ones_like(a), a)
    pos = a_safe > 0
    # for a > 0: (e^{na} - 1)/(e^a - 1); for a < 0: (1 - e^{na})/(1 - e^a); each written as log1m-exp terms
    big = torch.where(pos, (n - 1) * a_safe + _log1m_exp(-n * a_safe) - _log1m_exp(-a_safe),
                      _log1m_exp(n * a_safe) - _log1m_exp(a_safe))
    taylor = math.log(n) + (n - 1) / 2.0 * a
    return torch.where(small, taylor, big)


def bernoulli_256_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """-log P(x) with P(k) proportional to p^(k/255) (1-p)^(1-k/255), p = sigmoid(logits), k in 0..255.

    This is the classic "Bernoulli decoder on grey levels" (binary cross-entropy against x/255)
    made a proper distribution over the 256 values by its normaliser, so it yields an honest
    bits/dim. For near-binary images it concentrates on 0 and 255 like a Bernoulli.
    """
    a = logits / 255.0
    return _log_geometric_sum(a, 256) - x.float() * a


def bernoulli_256_mean(logits: torch.Tensor) -> torch.Tensor:
    """Expected 8-bit value (0..255, float) of the distribution in `bernoulli_256_nll`."""
    k = torch.arange(256, dtype=logits.dtype, device=logits.device)
    return (torch.softmax(logits[..., None] * (k / 255.0), dim=-1) * k).sum(-1)


def bits_per_dim(nll_nats_per_image: torch.Tensor | float, dims: int) -> float:
    """Mean over images of -log2 p(x) / dims (the number every likelihood family reports)."""
    if isinstance(nll_nats_per_image, torch.Tensor):
        nll_nats_per_image = float(nll_nats_per_image.double().mean())
    return nll_nats_per_image / (dims * LOG2)


def discretized_mean(loc: torch.Tensor, log_scale: torch.Tensor, kind: str = "logistic") -> torch.Tensor:
    """Expected 8-bit value (0..255, float) of the discretised logistic/Gaussian above, edge bins included.

    E[k] = sum_{k=1}^{255} P(value >= k), and P(value >= k) is the survival function at the lower
    edge of bin k. Unlike `loc`, this is the mean a person expects to see: an unsure pixel comes out
    grey, not snapped to whichever side the location happens to sit.
    """
    survival = torch.sigmoid if kind == "logistic" else torch.special.ndtr
    edges = torch.arange(1, 256, dtype=loc.dtype, device=loc.device) / 127.5 - 1.0 - BIN_HALF_WIDTH
    flat_loc, flat_scale = loc.reshape(-1, 1), torch.exp(log_scale).reshape(-1, 1)
    out = torch.empty(flat_loc.shape[0], dtype=loc.dtype, device=loc.device)
    step = 1 << 16  # pixels at a time: bounds memory at 64 px RGB batches
    for i in range(0, flat_loc.shape[0], step):
        t = (flat_loc[i:i + step] - edges) / flat_scale[i:i + step]
        out[i:i + step] = survival(t).sum(1)
    return out.view(loc.shape)
