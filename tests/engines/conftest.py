import numpy as np
import pytest
import torch

from engines.data import ImageDataset


@pytest.fixture(autouse=True)
def _small_torch():
    torch.set_num_threads(1)
    yield


def tiny_dataset(n=48, size=16, channels=1, classes=0, seed=0) -> ImageDataset:
    """Blobs at random places: cheap, learnable, deterministic."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.empty((n, size, size, channels), np.uint8)
    labels = np.zeros(n, np.int64) if not classes else np.arange(n) % classes
    for i in range(n):
        cy, cx = rng.uniform(size * 0.25, size * 0.75, 2)
        r = size * (0.15 + 0.1 * (labels[i] % 3 if classes else rng.uniform(0, 2)))
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        images[i] = (blob[..., None] * 255).astype(np.uint8)
    names = [f"class{c}" for c in range(classes)]
    return ImageDataset(images, labels, names, sources=["<tiny>"])


@pytest.fixture
def tiny():
    return tiny_dataset()
