"""Colour preservation for style transfer (Gatys et al., 2016, "Preserving colour in neural artistic
style transfer"): transfer in luminance only, then put the content's chroma back.

Luminance and chroma are ITU-R BT.601 YCbCr (the JPEG convention), on float arrays in [0, 1].
"""

from __future__ import annotations

import numpy as np

_TO_YCC = np.array([[0.299, 0.587, 0.114],
                    [-0.168736, -0.331264, 0.5],
                    [0.5, -0.418688, -0.081312]])
_FROM_YCC = np.linalg.inv(_TO_YCC)


def to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """float (..., 3) RGB in [0, 1] -> Y in [0, 1], Cb and Cr in [-0.5, 0.5]."""
    return rgb @ _TO_YCC.T


def from_ycbcr(ycc: np.ndarray) -> np.ndarray:
    return np.clip(ycc @ _FROM_YCC.T, 0.0, 1.0)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """float (H, W, 3) -> (H, W) luminance."""
    return to_ycbcr(rgb)[..., 0]


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """Style luminance shifted and scaled to the content's mean and spread (so only texture moves)."""
    s_std = float(style_y.std()) or 1.0
    return np.clip((style_y - style_y.mean()) * (float(content_y.std()) / s_std) + content_y.mean(), 0.0, 1.0)


def grey3(y: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 3): a luminance image as the RGB input the feature networks take."""
    return np.repeat(y[..., None], 3, axis=-1)


def recombine(stylised_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The stylised image's luminance with the content image's chroma."""
    out = to_ycbcr(content_rgb)
    out[..., 0] = luminance(stylised_rgb)
    return from_ycbcr(out)
