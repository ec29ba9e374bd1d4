"""The in-memory form every family trains on: uint8 images plus labels, and what was skipped."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class ImageDataset:
    images: np.ndarray                 # uint8, (N, H, W, C), C in {1, 3}; may be a read-only memmap
    labels: np.ndarray                 # int64, (N,); all zeros when unlabelled
    class_names: list[str]             # empty when unlabelled
    paths: list[str] = field(default_factory=list)      # source file of each image
    skipped: list[Skipped] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)    # what the person gave us (folders/files)
    # What ingestion learned on the way: formats, modes, original width/height [min, median, max],
    # cache state ("hit", "updated", "built", "off"), and a note when labels were dropped.
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] not in (1, 3):
            raise ValueError(f"images must be uint8 (N, H, W, 1|3), got {self.images.dtype} {self.images.shape}")
        if len(self.labels) != len(self.images):
            raise ValueError("one label per image")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> dict[str, int]:
        if not self.class_names:
            return {}
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts)}

    def subset(self, index: np.ndarray) -> "ImageDataset":
        return ImageDataset(self.images[index], self.labels[index], list(self.class_names),
                            [self.paths[i] for i in index] if self.paths else [],
                            [], list(self.sources))

    def split(self, val_fraction: float, seed: int = 0) -> tuple["ImageDataset", "ImageDataset"]:
        """A fixed (seeded) train/validation split; validation images are never trained on."""
        n_val = int(round(len(self) * val_fraction))
        if val_fraction > 0:
            n_val = min(max(n_val, 1), len(self) - 1)
        order = np.random.default_rng(seed).permutation(len(self))
        return self.subset(np.sort(order[n_val:])), self.subset(np.sort(order[:n_val]))

    def describe(self) -> dict:
        """What run.json records about the data."""
        return {"sources": list(self.sources), "images": len(self), "size": self.size,
                "channels": self.channels, "classes": self.class_counts(),
                "skipped": len(self.skipped)}

    def summary(self) -> str:
        """One line for a status bar."""
        kind = "grey" if self.channels == 1 else "RGB"
        classes = f"{self.num_classes} classes" if self.class_names else "unlabelled"
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return f"{len(self)} images, {classes}, {self.size}×{self.size} {kind}{skipped}"
