"""Small datasets built on the spot, for tests, benchmarks and the bundled sample.

Nothing is downloaded: digits come from scikit-learn's bundled 8x8 set (a development dependency),
shapes are drawn with Pillow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def digit_images(size: int = 28, copies: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits, upscaled to `size` px (uint8 (N, size, size), labels).

    copies > 1 adds shifted, slightly rotated variants, so a few thousand distinct images are available.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(copies):
        for img8, label in zip(digits.images, digits.target):
            pil = Image.fromarray((img8 * (255.0 / 16.0)).astype(np.uint8))
            inner = int(round(size * 0.8))
            pil = pil.resize((inner, inner), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(size / 56))
            if c > 0:
                pil = pil.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR)
            canvas = Image.new("L", (size, size), 0)
            off = (size - inner) // 2
            dx, dy = (rng.integers(-2, 3, size=2) if c > 0 else (0, 0))
            canvas.paste(pil, (off + int(dx), off + int(dy)))
            images.append(np.asarray(canvas, dtype=np.uint8))
            labels.append(int(label))
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def write_digit_folder(folder: str | Path, size: int = 28, copies: int = 1, per_class: int | None = None,
                       seed: int = 0) -> Path:
    """Write digits as PNGs into folder/<digit>/NNNNN.png (one subfolder per class)."""
    folder = Path(folder)
    images, labels = digit_images(size, copies, seed)
    counts: dict[int, int] = {}
    for img, label in zip(images, labels):
        n = counts.get(int(label), 0)
        if per_class is not None and n >= per_class:
            continue
        counts[int(label)] = n + 1
        out = folder / str(int(label))
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(out / f"{n:05d}.png")
    return folder


def shape_images(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Coloured circles, squares and triangles on a light background: RGB uint8 (n, size, size, 3)."""
    rng = np.random.default_rng(seed)
    names = ["circle", "square", "triangle"]
    images, labels = [], []
    for i in range(n):
        label = i % 3
        img = Image.new("RGB", (size, size), (235, 235, 230))
        draw = ImageDraw.Draw(img)
        r = rng.uniform(0.22, 0.38) * size
        cx, cy = rng.uniform(r, size - r, size=2)
        colour = tuple(int(v) for v in rng.integers(20, 220, size=3))
        if label == 0:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        elif label == 1:
            draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
        images.append(np.asarray(img, dtype=np.uint8))
        labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64), names
