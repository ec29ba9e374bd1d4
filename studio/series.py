"""Growing (step, value) series with an exponential moving average, in preallocated numpy buffers."""

from __future__ import annotations

import math

import numpy as np

WINDOW_SHARE_INVERSE = 5.0  # the smoothing window spans at most 1/5 of a series' points

# exp(230) ~ 1e100: keeps w**-k inside float64 with plenty of headroom
_MAX_EXPONENT = 230.0


def ema(values: np.ndarray, weight: float, previous: float | None = None) -> np.ndarray:
    """s[k] = weight * s[k-1] + (1 - weight) * values[k], started at `previous` (or values[0]).

    Vectorised in chunks: within a chunk s[k] = w^(k+1) s0 + (1-w) w^k cumsum(w^-j x[j]); chunks
    are short enough that w^-k stays finite.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.empty_like(values)
    if len(values) == 0:
        return out
    if weight <= 0:
        out[:] = values
        return out
    s = float(values[0]) if previous is None else float(previous)
    chunk = max(1, min(4096, int(_MAX_EXPONENT / -math.log(weight))))
    for start in range(0, len(values), chunk):
        x = values[start:start + chunk]
        k = np.arange(len(x), dtype=np.float64)
        w_pow = weight ** k
        acc = np.cumsum(x * weight ** -k)
        out[start:start + len(x)] = weight * w_pow * s + (1 - weight) * w_pow * acc
        s = float(out[start + len(x) - 1])
    return out


class Series:
    """Appends are amortised O(1): the buffers double when full."""

    def __init__(self, capacity: int = 1024):
        self.x = np.empty(capacity, np.float64)
        self.y = np.empty(capacity, np.float64)
        self.smooth = np.empty(capacity, np.float64)
        self.n = 0
        self.weight = 0.0
        self.ascending = True  # x never went back (a rollback repeats steps): display() may bisect

    def _grow(self, need: int) -> None:
        capacity = len(self.x)
        while capacity < need:
            capacity *= 2
        if capacity != len(self.x):
            for name in ("x", "y", "smooth"):
                old = getattr(self, name)
                new = np.empty(capacity, np.float64)
                new[:self.n] = old[:self.n]
                setattr(self, name, new)

    def extend(self, xs, ys) -> None:
        xs = np.asarray(xs, np.float64)
        ys = np.asarray(ys, np.float64)
        m = len(xs)
        if m == 0:
            return
        if self.ascending and (np.any(np.diff(xs) < 0) or (self.n and xs[0] < self.x[self.n - 1])):
            self.ascending = False
        self._grow(self.n + m)
        self.x[self.n:self.n + m] = xs
        self.y[self.n:self.n + m] = ys
        applied = self.applied_weight(self.n)
        self.n += m
        if self.applied_weight(self.n) != applied:   # a short series: its window grew with it
            self.smooth[:self.n] = ema(self.y[:self.n], self.applied_weight(self.n))
        else:
            prev = float(self.smooth[self.n - m - 1]) if self.n > m else None
            self.smooth[self.n - m:self.n] = ema(ys, applied, prev)

    def append(self, x: float, y: float) -> None:
        self.extend([x], [y])

    def applied_weight(self, n: int) -> float:
        """The slider's weight, capped so the average spans at most a fifth of the points (its window
        is about 1/(1-w) points): 20 logged points at 0.937 would otherwise trail far behind the data."""
        return min(self.weight, max(0.0, 1.0 - WINDOW_SHARE_INVERSE / n)) if n else self.weight

    def set_weight(self, weight: float) -> None:
        self.weight = float(weight)
        self.smooth[:self.n] = ema(self.y[:self.n], self.applied_weight(self.n))

    def clear(self) -> None:
        self.n = 0
        self.ascending = True

    def truncate_after(self, x: float) -> None:
        """Forget the points past x (a rollback returned training to step x; what follows replaces them)."""
        before = self.applied_weight(self.n)
        if self.ascending:
            self.n = int(np.searchsorted(self.xs, x, "right"))
            if self.applied_weight(self.n) != before:
                self.smooth[:self.n] = ema(self.y[:self.n], self.applied_weight(self.n))
            return
        keep = np.flatnonzero(self.xs <= x)
        m = len(keep)
        self.x[:m], self.y[:m] = self.x[keep], self.y[keep]
        self.n = m
        self.smooth[:m] = ema(self.y[:m], self.applied_weight(m))
        self.ascending = bool(np.all(np.diff(self.xs) >= 0))

    def display(self, lo: float, hi: float, budget: int = 4096, smoothed: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
        """At most about `budget` points covering x in [lo, hi] for drawing: every point when they fit,
        else the first and last point of each bucket's minimum and maximum (the peak envelope, so
        spikes survive). Buckets are aligned to fixed multiples of a power-of-two width, so a growing
        series keeps its shape between redraws instead of shimmering."""
        xs, ys = self.xs, (self.smoothed if smoothed else self.ys)
        if self.n <= budget or not self.ascending:
            return xs, ys
        i0 = max(0, int(np.searchsorted(xs, lo, "left")) - 1)
        i1 = min(self.n, int(np.searchsorted(xs, hi, "right")) + 1)
        if i1 - i0 <= budget:
            return xs[i0:i1], ys[i0:i1]
        width = 1 << int(math.ceil(math.log2((i1 - i0) / (budget // 2))))
        start = -(-i0 // width) * width                  # first full bucket at or after i0
        stop = start + (i1 - start) // width * width     # end of the last full bucket
        blocks = ys[start:stop].reshape(-1, width)
        lo_at, hi_at = blocks.argmin(axis=1), blocks.argmax(axis=1)
        base = start + np.arange(len(blocks)) * width
        picks = np.empty(2 * len(blocks), dtype=np.int64)
        picks[0::2] = base + np.minimum(lo_at, hi_at)    # in x order within each bucket
        picks[1::2] = base + np.maximum(lo_at, hi_at)
        # the first and last points too, so the drawn extent (and autorange) matches the data's
        idx = np.unique(np.concatenate([[i0], np.arange(i0, start), picks, np.arange(stop, i1), [i1 - 1]]))
        return xs[idx], ys[idx]

    @property
    def xs(self) -> np.ndarray:
        return self.x[:self.n]

    @property
    def ys(self) -> np.ndarray:
        return self.y[:self.n]

    @property
    def smoothed(self) -> np.ndarray:
        return self.smooth[:self.n]
