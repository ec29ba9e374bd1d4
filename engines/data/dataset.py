"""The form every family trains on: uint8 images (in memory or memory-mapped) plus labels, and what
was skipped."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ..words import count


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


class RowView:
    """Chosen rows of a memory-mapped image array, read only when indexed.

    A train/validation split of a cached dataset must not copy it into memory: indexing with an
    int, slice or index array reads just those rows from the file; np.asarray() reads them all.
    """

    def __init__(self, base: np.ndarray, rows: np.ndarray):
        self.base = base
        self.rows = np.asarray(rows, dtype=np.int64)
        self.shape = (len(self.rows),) + tuple(base.shape[1:])
        self.dtype = base.dtype
        self.ndim = base.ndim

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def __getitem__(self, key):
        if isinstance(key, tuple):
            head, rest = key[0], key[1:]
            picked = self[head]
            return picked[rest] if np.ndim(head) == 0 else picked[(slice(None),) + rest]
        if isinstance(key, RowView):
            key = np.asarray(key)
        return self.base[self.rows[key]]

    def __array__(self, dtype=None, copy=None):
        out = self.base[self.rows]
        return out if dtype is None else out.astype(dtype)


@dataclass
class ImageDataset:
    images: np.ndarray | RowView       # uint8, (N, H, W, C), C in {1, 3}; may be a read-only memmap
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
        index = np.asarray(index, dtype=np.int64)
        if isinstance(self.images, RowView):
            images = RowView(self.images.base, self.images.rows[index])
        elif isinstance(self.images, np.memmap):
            images = RowView(self.images, index)      # rows stay on disk until a batch asks for them
        else:
            images = self.images[index]
        return ImageDataset(images, self.labels[index], list(self.class_names),
                            [self.paths[i] for i in index] if self.paths else [],
                            [], list(self.sources))

    def split(self, val_fraction: float, seed: int = 0) -> tuple["ImageDataset", "ImageDataset"]:
        """A fixed (seeded) train/validation split; validation images are never trained on."""
        held = held_out_indices(len(self), val_fraction, seed)
        train = np.setdiff1d(np.arange(len(self)), held, assume_unique=True)
        return self.subset(train), self.subset(held)

    def describe(self) -> dict:
        """What run.json records about the data."""
        record = {"sources": list(self.sources), "images": len(self), "size": self.size,
                  "channels": self.channels, "classes": self.class_counts(),
                  "skipped": len(self.skipped)}
        settings = self.info.get("settings", {})
        # How the pixels were made, so a resumed run can load the same data again.
        record.update({k: settings[k] for k in ("fit", "background") if k in settings})
        return record

    def summary(self) -> str:
        """One line for a status bar."""
        kind = "grey" if self.channels == 1 else "RGB"
        classes = count(self.num_classes, "class") if self.class_names else "unlabelled"
        skipped = f", {len(self.skipped):,} skipped" if self.skipped else ""
        return f"{count(len(self), 'image')}, {classes}, {self.size}×{self.size} {kind}{skipped}"


def held_out_indices(n: int, val_fraction: float, seed: int = 0) -> np.ndarray:
    """The sorted indices ImageDataset.split holds out for validation (the same for the same n,
    fraction and seed): used to tell which images a run never trained on."""
    n_val = int(round(n * val_fraction))
    if val_fraction > 0:
        n_val = min(max(n_val, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:n_val])
