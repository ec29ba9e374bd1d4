"""A colourful procedural texture: a style image anyone has, for demos, tests and benchmarks.

Domain-warped diagonal bands through a five-colour palette with fine streaks, like thick paint.
"""

from __future__ import annotations

import numpy as np

PALETTE = np.array([[0.95, 0.8, 0.1], [0.9, 0.2, 0.1], [0.1, 0.3, 0.8], [0.1, 0.7, 0.4], [0.95, 0.95, 0.9]])


def texture(size: int = 256, seed: int = 0) -> np.ndarray:
    """uint8 (size, size, 3); the same seed gives the same texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    warp = np.zeros_like(x)
    for k in range(4):
        fx, fy, phase = rng.uniform(2, 6), rng.uniform(2, 6), rng.uniform(0, 2 * np.pi)
        warp += np.sin(2 * np.pi * (fx * x + fy * y) + phase) / (k + 1)
    t = 5 * x + 3 * y + 1.5 * warp
    bands = (np.sin(2 * np.pi * t) + 1) / 2
    streak = np.sin(2 * np.pi * (40 * (0.8 * x + 0.6 * y) + 2 * warp))
    idx = (2 * t + 0.5 * streak) % len(PALETTE)
    i0 = np.floor(idx).astype(int) % len(PALETTE)
    i1 = (i0 + 1) % len(PALETTE)
    f = (idx - np.floor(idx))[..., None]
    f = f ** 3 * (10 - 15 * f + 6 * f * f)      # smootherstep: crisp edges between colours
    img = PALETTE[i0] * (1 - f) + PALETTE[i1] * f
    img = img * (0.8 + 0.2 * bands)[..., None] + 0.06 * streak[..., None]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def mosaic(size: int = 256, seed: int = 0, cells: int = 60) -> np.ndarray:
    """uint8 (size, size, 3): stained glass - random cells of saturated colour with dark leading."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, size, (cells, 2))
    hues = rng.uniform(0, 1, cells)
    y, x = np.mgrid[0:size, 0:size]
    d = np.sqrt((y[..., None] - points[:, 0]) ** 2 + (x[..., None] - points[:, 1]) ** 2)
    order = np.argsort(d, axis=-1)
    nearest, second = order[..., 0], order[..., 1]
    gap = np.take_along_axis(d, second[..., None], -1)[..., 0] - np.take_along_axis(d, nearest[..., None], -1)[..., 0]
    h = hues[nearest][..., None]
    rgb = np.clip(np.abs((h * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)   # hue -> saturated RGB
    rgb = 0.15 + 0.8 * rgb
    rgb = rgb * (0.85 + 0.15 * np.sin(x / 3.0 + y / 5.0)[..., None])          # a little glass ripple
    rgb[gap < size / 90] = 0.08                                               # the lead between cells
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
