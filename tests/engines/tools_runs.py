"""Tiny trained runs shared by the tools tests (16 px blobs, a few steps each, trained through the CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.engines.family_cases import SMALL_CONFIG

SIZE = 16


def blob_images(n: int = 24, size: int = SIZE, seed: int = 0, classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Bright blobs on black, class c on the left (0) or right (1) half: trivially learnable."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.empty((n, size, size, 1), np.uint8)
    labels = np.arange(n) % classes
    for i in range(n):
        cy = rng.uniform(size * 0.3, size * 0.7)
        cx = size * (0.3 if labels[i] == 0 else 0.7) + rng.uniform(-0.5, 0.5)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size * 0.18) ** 2))
        images[i] = (blob[..., None] * 255).astype(np.uint8)
    return images, labels


def write_folder(folder: Path, images: np.ndarray, labels: np.ndarray | None = None,
                 names: tuple[str, ...] = ("left", "right")) -> Path:
    for i, img in enumerate(images):
        out = folder / names[labels[i]] if labels is not None else folder
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[..., 0]).save(out / f"{i:03d}.png")
    return folder


def train(root: Path, family: str, data: Path, steps: int = 4, **sets) -> Path:
    from engines.cli import main

    out = root / f"run_{family}"
    config = {**SMALL_CONFIG.get(family, {}), **sets}
    argv = ["train", "--family", family, "--data", str(data), "--out", str(out), "--size", str(SIZE),
            "--steps", str(steps), "--batch-size", "8", "--set", "sample_every=0", "--set", "val_fraction=0.25",
            "--quiet"]
    for k, v in config.items():
        argv += ["--set", f"{k}={v}"]
    assert main(argv) == 0
    return out
