"""Where a run's batches come from: the data order, each process's shard, the family's other image
sets (extra input streams) and the held-out split.

The order depends on the step only (epochs are seeded permutations), so a resumed run sees exactly
the batches an uninterrupted one would, and the global batch of `step` is the same on any number of
processes: rank r takes the r-th slice of batch_size / world images of it.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ..data import ImageDataset
from ..families.base import Batch


class BatchSource:
    def __init__(self, dataset: ImageDataset, extra: dict[str, tuple[int, ImageDataset]], *, batch_size: int, seed: int,
                 flip: bool, val_fraction: float, validates: bool, rank: int, world: int,
                 device: torch.device, channels_last: bool):
        """`extra`: the family's other image sets by input name, each with its stream number (its
        place among the family's inputs, from 1: its own order). `validates`: hold out val_fraction."""
        self.batch_size, self.seed, self.flip = batch_size, seed, flip
        self.rank, self.local_batch = rank, batch_size // world
        self.device, self.channels_last = device, channels_last
        if validates and len(dataset) >= 2:
            self.train_data, self.val_data = dataset.split(val_fraction, seed=seed)
        else:
            self.train_data, self.val_data = dataset, None
        self.extra_train: dict[str, tuple[int, ImageDataset]] = {}
        for name, (stream, data) in extra.items():
            if validates and len(data) >= 2:
                data = data.split(val_fraction, seed=seed + stream)[0]
            self.extra_train[name] = (stream, data)

    def preview_batch(self, n: int) -> Batch | None:
        """The same few real images of every stream (for a family's training grids), or None
        when the family has one image set only."""
        if not self.extra_train:
            return None
        k = min(n, 64)
        fixed = self.batch_of(self.train_data, np.arange(min(k, len(self.train_data))), augment=False)
        for name, (_, data) in self.extra_train.items():
            fixed.extra[name] = self.batch_of(data, np.arange(min(k, len(data))), augment=False)
        return fixed

    def batch_indices(self, step: int, n: int | None = None, stream: int = 0) -> np.ndarray:
        """Indices of the global batch of `step`: epochs are seeded permutations, so the order
        depends on the step only. `stream` > 0 numbers another image set (its own order, same rule)."""
        n = len(self.train_data) if n is None else n
        b = self.batch_size
        start = step * b
        key = [self.seed] if stream == 0 else [self.seed, stream]
        out = []
        while len(out) < b:
            epoch, pos = divmod(start + len(out), n)
            perm = np.random.default_rng([*key, epoch]).permutation(n)
            take = min(b - len(out), n - pos)
            out.extend(perm[pos:pos + take])
        return np.asarray(out)

    def shard_indices(self, step: int, n: int | None = None, stream: int = 0) -> np.ndarray:
        """This process's part of the global batch of `step`: rank r takes the r-th slice of
        batch_size / world images, so the processes together see exactly the one-process batch."""
        b = self.local_batch
        return self.batch_indices(step, n, stream)[self.rank * b:(self.rank + 1) * b]

    def batch(self, step: int) -> Batch:
        batch = self.batch_of(self.train_data, self.shard_indices(step))
        for name, (stream, data) in self.extra_train.items():
            batch.extra[name] = self.batch_of(data, self.shard_indices(step, len(data), stream))
        return batch

    def batch_of(self, data: ImageDataset, idx: np.ndarray, augment: bool = True) -> Batch:
        order = np.argsort(idx, kind="stable")  # sorted reads are kind to memory-mapped arrays
        pixels = np.empty((len(idx),) + data.images.shape[1:], np.uint8)
        pixels[order] = data.images[idx[order]]
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
        if self.flip and augment:
            flip = torch.rand(len(idx)) < 0.5
            x[flip] = x[flip].flip(-1)
        y = torch.from_numpy(np.asarray(data.labels[idx], dtype=np.int64))
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return Batch(x, y.to(self.device))

    def val_batches(self, batch_size: int = 256) -> Iterator[Batch]:
        data = self.val_data
        if data is None:
            return
        for i in range(0, len(data), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(data.images[i:i + batch_size])).permute(0, 3, 1, 2)
            y = torch.from_numpy(np.asarray(data.labels[i:i + batch_size], dtype=np.int64))
            yield Batch(x.contiguous().to(self.device), y.to(self.device))
