"""Small numpy/Pillow helpers for image grids and PNG files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def class_grid_columns(n: int, num_classes: int) -> int:
    """Columns for a grid of `n` images whose classes cycle 0, 1, …, K-1: a multiple of K (so every
    column holds one class) that keeps the grid as square as it can (64 images of 4 classes: 8×8,
    not a 4×16 strip)."""
    k = max(1, num_classes)
    return k * max(1, round(math.sqrt(max(n, 1)) / k))


def make_grid(images: np.ndarray, columns: int | None = None, pad: int = 2, fill: int = 32) -> np.ndarray:
    """Tile uint8 (N, H, W, C) into one (H', W', C) image with `pad` pixels between tiles."""
    n, h, w, c = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / columns))
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), fill, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = images[i]
    return grid


def grid_cell(grid_shape: tuple[int, ...], tile: int, n: int, x: int, y: int, columns: int | None = None,
              pad: int = 2) -> int | None:
    """Which image of a make_grid grid lies under pixel (x, y); None in the padding or past the end."""
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    col, cx = divmod(x - pad, tile + pad)
    row, cy = divmod(y - pad, tile + pad)
    if x < pad or y < pad or cx >= tile or cy >= tile or col >= columns:
        return None
    i = row * columns + col
    return i if 0 <= i < n else None


def to_pil(image: np.ndarray) -> Image.Image:
    """uint8 (H, W, 1|3) -> Pillow image."""
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def save_png(image: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    """Write uint8 (H, W, C) as PNG, optionally enlarged by an integer factor (nearest neighbour)."""
    pil = to_pil(image)
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.NEAREST)
    path = Path(path)
    pil.save(path, format="PNG")
    return path


def split_grid(grid: np.ndarray, n: int | None, tile: int, pad: int = 2) -> np.ndarray:
    """The N tiles of a make_grid grid back as uint8 (N, tile, tile, C) (a grid read from its PNG);
    the layout is read from the grid's size, and n=None (or more than it holds) takes every tile."""
    columns = max(1, (grid.shape[1] - pad) // (tile + pad))
    rows = max(1, (grid.shape[0] - pad) // (tile + pad))
    n = rows * columns if n is None else min(n, rows * columns)
    out = np.empty((n, tile, tile, grid.shape[2]), np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        y, x = pad + r * (tile + pad), pad + col * (tile + pad)
        out[i] = grid[y:y + tile, x:x + tile]
    return out


def load_png(path: str | Path, channels: int | None = None) -> np.ndarray:
    """uint8 (H, W, C) from a PNG (C: 1 for grey, 3 for RGB; `channels` forces one)."""
    with Image.open(path, formats=["PNG"]) as im:  # a run's own grids: PNG only
        im = im.convert("L" if channels == 1 or (channels is None and im.mode in ("L", "LA", "I", "1")) else "RGB")
        arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr
