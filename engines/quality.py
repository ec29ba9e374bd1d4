"""Sample-quality measures any family can use: a small classifier trained on the same kind of data,
the Fréchet distance between image sets in its feature space, and how many classes a set covers.

    space = FeatureSpace.fit(real_images, real_labels)          # seconds on a CPU for a few thousand images
    fd = space.frechet(real_images, generated_images)           # 0 for identical distributions
    covered = space.classes_covered(generated_images)           # classes with a fair share of samples

This is FID's recipe (Heusel et al., 2017) with a classifier of the data at hand instead of Inception:
comparable between runs on the same data, not across datasets. Images are uint8, (N, H, W) or
(N, H, W, C); they are resized and converted to the classifier's size and channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _to_tensor(images: np.ndarray, size: int, channels: int) -> torch.Tensor:
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.dtype != np.uint8:
        raise ValueError("images must be uint8 (N, H, W) or (N, H, W, C)")
    x = np.ascontiguousarray(x)
    if not x.flags.writeable:  # torch warns on read-only arrays; the float copy below is made anyway
        x = x.copy()
    t = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    if t.shape[1] != channels:
        t = t.mean(1, keepdim=True) if channels == 1 else t[:, :1].expand(-1, channels, -1, -1)
    if t.shape[-1] != size or t.shape[-2] != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return t


class _SmallNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, feature_dim: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64 * 16, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return f, self.head(f)


@dataclass
class FeatureSpace:
    net: _SmallNet
    size: int
    channels: int
    num_classes: int
    train_accuracy: float

    @classmethod
    def fit(cls, images: np.ndarray, labels: np.ndarray, epochs: int = 5, seed: int = 0,
            feature_dim: int = 64, batch_size: int = 64, input_size: int | None = None) -> "FeatureSpace":
        """Train the classifier on images shrunk to `input_size` (default: at most 32 px, for speed).

        The caller's RNG state is untouched (local generators only).
        """
        labels = np.asarray(labels, dtype=np.int64)
        num_classes = int(labels.max()) + 1
        if num_classes < 2:
            raise ValueError("a feature space needs images of at least two classes")
        shape = np.asarray(images).shape
        size, channels = input_size or min(shape[1], 32), (shape[3] if len(shape) == 4 else 1)
        x, y = _to_tensor(images, size, channels), torch.from_numpy(labels)
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # weight init
            net = _SmallNet(channels, num_classes, feature_dim)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        net.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch_size):
                idx = order[i:i + batch_size]
                loss = F.cross_entropy(net(x[idx])[1], y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        space = cls(net.eval(), size, channels, num_classes, 0.0)
        space.train_accuracy = float((space.predict(images) == labels).mean())
        return space

    @torch.no_grad()
    def _run(self, images: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        x = _to_tensor(images, self.size, self.channels)
        feats, probs = [], []
        for i in range(0, len(x), batch_size):
            f, logits = self.net(x[i:i + batch_size])
            feats.append(f.double().numpy())
            probs.append(torch.softmax(logits, 1).double().numpy())
        return np.concatenate(feats), np.concatenate(probs)

    def features(self, images: np.ndarray) -> np.ndarray:
        """(N, feature_dim) float64: the classifier's penultimate layer."""
        return self._run(images)[0]

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self._run(images)[1].argmax(1)

    def frechet(self, images_a: np.ndarray, images_b: np.ndarray) -> float:
        return frechet_distance(self.features(images_a), self.features(images_b))

    def class_counts(self, images: np.ndarray, min_confidence: float = 0.5) -> np.ndarray:
        """Images per class among those the classifier is at least this sure of."""
        probs = self._run(images)[1]
        sure = probs.max(1) >= min_confidence
        return np.bincount(probs.argmax(1)[sure], minlength=self.num_classes)

    def classes_covered(self, images: np.ndarray, min_share: float | None = None,
                        min_confidence: float = 0.5) -> int:
        """Classes that get at least `min_share` of the images (default: a fifth of a fair share)."""
        share = (0.2 / self.num_classes) if min_share is None else min_share
        counts = self.class_counts(images, min_confidence)
        return int((counts >= max(1.0, share * len(images))).sum())


def _symmetric(m: np.ndarray) -> np.ndarray:
    return (m + m.T) / 2


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(_symmetric(m))
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples).

    ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2); the symmetric form keeps
    every square root on a positive semi-definite matrix, so no complex parts appear.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError("frechet_distance needs two (N, D) feature arrays with N >= 2 and the same D")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrtm_psd(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(_symmetric(root_a @ cov_b @ root_a)), 0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)
    return max(value, 0.0)
