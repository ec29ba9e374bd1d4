"""The sample grids a run draws while it trains: always from the same noise (and, for a conditional
family, the same labels, one column per class), written to the run folder, captioned."""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np
import torch

from ..imaging import class_grid_columns, make_grid
from . import events as ev

SAMPLE_SEED_OFFSET = 1_000_003


def fixed_labels(spec, engine, n: int) -> np.ndarray | None:
    if spec.num_classes == 0 or not engine.conditional:
        return None
    k = spec.num_classes
    if k <= 16:   # a grid with a class per column: whole rows (64 of 10 classes: 60, not 6 rows and 4)
        columns = class_grid_columns(n, k)
        n = max(n // columns * columns, min(n, columns))
    return np.arange(n) % k


def make_samples(engine, spec, n: int, seed: int, labels: np.ndarray | None, run_dir, step: int) -> ev.Samples:
    n = len(labels) if labels is not None else n
    images = engine.preview(n, seed=seed + SAMPLE_SEED_OFFSET, labels=labels)
    names = spec.class_names
    columns = engine.preview_columns
    if columns is None and labels is not None and spec.num_classes <= 16:
        columns = class_grid_columns(len(images), spec.num_classes)
    grid = make_grid(images, columns=columns)
    path = str(run_dir.save_samples(step, grid)) if run_dir is not None else None
    captions = (tuple(names[int(y)] if int(y) < len(names) else str(int(y)) for y in labels[:len(images)])
                if labels is not None else None)
    return ev.Samples(step, images, grid, path, captions)


def sample_events(t, keep_rng: bool = False) -> Iterator[ev.Event]:
    """The trainer `t`'s grid: Phase (so a person sees why steps stand still while a slow family
    draws), then Samples. keep_rng: the random state is set aside while drawing (grids on a clock
    must not change training)."""
    yield ev.Phase(t.step, "sampling", f"drawing {t.settings.n_samples} sample images", t._last_sampling_s)
    t0 = time.perf_counter()
    if keep_rng:
        devices = [t.device.index or 0] if t.device.type == "cuda" else []
        numpy_state = np.random.get_state()
        with torch.random.fork_rng(devices=devices):
            samples = t.make_samples()
        np.random.set_state(numpy_state)
    else:
        samples = t.make_samples()
    t._last_sampling_s = time.perf_counter() - t0
    yield samples
