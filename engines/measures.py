"""Likelihood in bits per dimension, the standard way for 8-bit images.

For discrete data x in {0..255}^D, bits/dim = -log2 p(x) / D. A continuous density on
uniformly dequantised data gives an upper bound on the discrete one (Theis et al., 2016);
`continuous_nll_to_bpd` applies the change of scale so both are on the same footing.
"""

from __future__ import annotations

import math

import torch

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
