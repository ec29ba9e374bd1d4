"""Growing (step, value) series with a debiased exponential moving average, in preallocated numpy
buffers, and the Qt-free maths the Losses panel draws with: the y range from the visible data with
outliers ignored, a qualitative palette that never repeats a style, and which names are counters.

The smoothing is TensorBoard's: s[k] = w s[k-1] + (1-w) x[k] from s[-1] = 0, divided by (1 - w^(k+1)),
so the average starts on the data instead of leaning towards the first value or towards zero.
"""

from __future__ import annotations

import math

import numpy as np
# np.median imports numpy.ma on its first call (a lazy attribute, for its NaN check): imported here, at
# start-up, instead of inside the Losses panel's first redraw of a run, where it stalled the window
import numpy.ma  # noqa: F401,E402

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


def debias(biased: np.ndarray, weight: float, first_index: int = 0) -> np.ndarray:
    """TensorBoard's bias correction: an EMA started at 0 divided by 1 - w^(k+1) (k = point index)."""
    if weight <= 0:
        return biased.copy()
    k = np.arange(first_index, first_index + len(biased), dtype=np.float64)
    with np.errstate(under="ignore"):
        return biased / (1.0 - weight ** (k + 1))


def debiased_ema(values: np.ndarray, weight: float) -> np.ndarray:
    """The smoothed curve TensorBoard draws: an EMA from 0, bias-corrected (its first point is the data's)."""
    return debias(ema(values, weight, previous=0.0), weight)


ROBUST_SAMPLE = 16_384   # points a curve's median and spread are estimated from


def _inlier_extent(values: np.ndarray, fence: float) -> tuple[float, float] | None:
    """(min, max) of one curve's values without its outliers: values further than `fence` scaled
    median absolute deviations from the median (which a few wild points cannot move)."""
    if len(values) == 0:
        return None
    # The median and the spread from an evenly spaced sample of a long curve (the same statistics to a
    # fraction of a percent): sorting 300,000 points per curve on every redraw held the window ~0.5 s.
    sample = values[::-(-len(values) // ROBUST_SAMPLE)] if len(values) > ROBUST_SAMPLE else values
    median = float(np.median(sample))
    spread = 1.4826 * float(np.median(np.abs(sample - median)))  # a standard deviation, robustly
    if spread > 0:
        values = values[np.abs(values - median) <= fence * spread]
        if len(values) == 0:
            return median, median
    return float(values.min()), float(values.max())


def robust_range(arrays, log: bool = False, pad: float = 0.08, fence: float = 10.0) -> tuple[float, float] | None:
    """A y range for the visible values of some curves (one array each) that ignores outliers: a
    first loss of 700,000 before values of 500 does not set the scale. Each curve is judged on its
    own, so a curve on another scale that the person chose to show is in view; the range spans every
    curve's inliers, widened by `pad` of its span on each side. With `log`, the positive values in
    log10 (what a log axis takes). None when there is nothing to show."""
    extents = []
    for a in arrays:
        extent = _inlier_extent(_plotted(a, log), fence)
        if extent is not None:
            extents.append(extent)
    return padded_range(extents, pad)


def _plotted(a, log: bool) -> np.ndarray:
    values = np.asarray(a, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    return np.log10(values[values > 0]) if log else values


def padded_range(extents, pad: float = 0.08) -> tuple[float, float] | None:
    """The range spanning (lo, hi) extents, widened by `pad` of its span on each side."""
    extents = [e for e in extents if e is not None]
    if not extents:
        return None
    lo, hi = min(e[0] for e in extents), max(e[1] for e in extents)
    span = hi - lo
    if span <= 0:  # one value (or a flat line): a small band around it
        span = abs(hi) * 0.2 if hi else 1.0
        return lo - span / 2, hi + span / 2
    return lo - pad * span, hi + pad * span


def _quantum(span: float) -> float:
    """A round step between a tenth and a hundredth of `span` (1, 2 or 5 times a power of ten)."""
    power = 10.0 ** math.floor(math.log10(span / 10.0))
    return max(q * power for q in (1.0, 2.0, 5.0) if q * power <= span / 10.0)


def steady_range(current: tuple[float, float] | None, needed: tuple[float, float] | None,
                 grow: float = 0.0, loose: float = 1.5, rounded: bool = True,
                 pad: float = 0.0) -> tuple[float, float] | None:
    """The range to show for a live plot: `current` kept while it holds `needed` and is at most `loose`
    times as wide, else `needed` widened by `pad` of its span on each side and `grow` more at the high
    end (where a live x range grows) and, if `rounded`, rounded outwards to a round step (a y range:
    the data moves both ways). A range that moves on every redraw re-lays out its axis
    text and transforms every curve again each time (most of a live redraw); a steady one changes only
    when the data leaves it or has shrunk well inside it."""
    if needed is None:
        return current
    lo, hi = needed
    span = hi - lo
    if not (math.isfinite(lo) and math.isfinite(hi)) or span <= 0:
        return needed
    if current is not None:
        c_lo, c_hi = current
        if c_lo <= lo and hi <= c_hi and (c_hi - c_lo) <= loose * span:
            return current
    lo, hi = lo - pad * span, hi + (pad + grow) * span
    if not rounded:
        return lo, hi
    step = _quantum(span)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step


class ExtentCache:
    """One curve's inlier extent (what robust_range finds for it), kept between redraws: while the same
    stretch is shown and points are only appended, the new points alone are judged against the kept
    median and spread, so a redraw costs the points added since the last one, not the whole curve
    (sorting 300,000 points per curve on every redraw held the window for tenths of a second).
    Everything is worked out again when the curve has grown by a tenth or anything else changed."""

    REFRESH_GROWTH = 1.1

    def __init__(self, fence: float = 10.0):
        self.fence = fence
        self.key = None
        self.n = 0
        self.judged_n = 0      # the length at the last full working-out (median and spread from all points)
        self.extent: tuple[float, float] | None = None
        self.median = self.spread = 0.0

    def extent_of(self, values: np.ndarray, key, log: bool) -> tuple[float, float] | None:
        n = len(values)
        # measured from the last full working-out, not the last call: a curve growing a point per redraw
        # was never judged again, so a loss that settled at a new level (a GAN's d_loss going from 0.3 to
        # 1.8 in its first hundreds of steps) stayed an "outlier" of its first points, above the plot
        if key == self.key and self.n <= n < self.judged_n * self.REFRESH_GROWTH and self.extent is not None:
            tail = _plotted(values[self.n:], log)
            if self.spread > 0:
                tail = tail[np.abs(tail - self.median) <= self.fence * self.spread]
            if len(tail):
                self.extent = (min(self.extent[0], float(tail.min())), max(self.extent[1], float(tail.max())))
            self.n = n
            return self.extent
        plotted = _plotted(values, log)
        self.key, self.n, self.judged_n = key, n, n
        if len(plotted) == 0:
            self.extent = None
            return None
        sample = plotted[::-(-len(plotted) // ROBUST_SAMPLE)] if len(plotted) > ROBUST_SAMPLE else plotted
        self.median = float(np.median(sample))
        self.spread = 1.4826 * float(np.median(np.abs(sample - self.median)))
        self.extent = _inlier_extent(plotted, self.fence)
        return self.extent


# A qualitative palette (matplotlib's tab10, which follows Tableau's): ten colours that are told apart
# easily; after ten, the same colours come back dashed, then dotted, so no two curves look alike.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
DASHES = ("solid", "dash", "dot", "dashdot")


def curve_style(index: int) -> tuple[str, str]:
    """(colour "#rrggbb", dash) of the index-th curve on a plot: unique for 40 curves."""
    colour = PALETTE[index % len(PALETTE)]
    dash = DASHES[(index // len(PALETTE)) % len(DASHES)]
    return colour, dash


_COUNTER_ENDINGS = ("_steps", "_count", "_counts", "restarts", "_streak")


def is_counter(name: str) -> bool:
    """Counts of steps or events (d_saturated_steps, code_restarts, class_count/3): on another scale
    than the 0-1 measures beside them, so they start hidden (listed; a click draws them)."""
    if name.startswith("class_count"):
        return True
    return name.rsplit("/", 1)[-1].endswith(_COUNTER_ENDINGS)


class Series:
    """Appends are amortised O(1): the buffers double when full."""

    def __init__(self, capacity: int = 1024):
        self.x = np.empty(capacity, np.float64)
        self.y = np.empty(capacity, np.float64)
        self.biased = np.empty(capacity, np.float64)   # the EMA from 0, before bias correction
        self.smooth = np.empty(capacity, np.float64)   # what is drawn: the bias-corrected EMA
        self.n = 0
        self.weight = 0.0
        self.ascending = True  # x never went back (a rollback repeats steps): display() may bisect
        # bumped whenever points already there change (resmoothing, clearing, truncating): what was worked
        # out from them (display()'s bucket envelope, a panel's y extent) is stale; appends keep it
        self.version = 0
        self._envelope: dict = {}   # (bucket width, smoothed) -> (end of the buckets done, their picks)

    def _grow(self, need: int) -> None:
        capacity = len(self.x)
        while capacity < need:
            capacity *= 2
        if capacity != len(self.x):
            for name in ("x", "y", "biased", "smooth"):
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
            self._changed()
        self._grow(self.n + m)
        self.x[self.n:self.n + m] = xs
        self.y[self.n:self.n + m] = ys
        applied = self.applied_weight(self.n)
        self.n += m
        if self.applied_weight(self.n) != applied:   # a short series: its window grew with it
            self._resmooth()
        else:
            prev = float(self.biased[self.n - m - 1]) if self.n > m else 0.0
            self.biased[self.n - m:self.n] = ema(ys, applied, prev)
            self.smooth[self.n - m:self.n] = debias(self.biased[self.n - m:self.n], applied, self.n - m)

    def _changed(self) -> None:
        self.version += 1
        self._envelope.clear()

    def _resmooth(self) -> None:
        self._changed()
        w = self.applied_weight(self.n)
        self.biased[:self.n] = ema(self.y[:self.n], w, previous=0.0)
        self.smooth[:self.n] = debias(self.biased[:self.n], w)

    def append(self, x: float, y: float) -> None:
        self.extend([x], [y])

    def applied_weight(self, n: int) -> float:
        """The slider's weight, capped so the average spans at most a fifth of the points (its window
        is about 1/(1-w) points): 20 logged points at 0.937 would otherwise trail far behind the data."""
        return min(self.weight, max(0.0, 1.0 - WINDOW_SHARE_INVERSE / n)) if n else self.weight

    def set_weight(self, weight: float) -> None:
        self.weight = float(weight)
        self._resmooth()

    def clear(self) -> None:
        self.n = 0
        self.ascending = True
        self._changed()

    def truncate_after(self, x: float) -> None:
        """Forget the points past x (a rollback returned training to step x; what follows replaces them)."""
        before = self.applied_weight(self.n)
        self._changed()
        if self.ascending:
            self.n = int(np.searchsorted(self.xs, x, "right"))
            if self.applied_weight(self.n) != before:
                self._resmooth()
            return
        keep = np.flatnonzero(self.xs <= x)
        m = len(keep)
        self.x[:m], self.y[:m] = self.x[keep], self.y[keep]
        self.n = m
        self._resmooth()
        self.ascending = bool(np.all(np.diff(self.xs) >= 0))

    def visible(self, lo: float, hi: float, smoothed: bool = False) -> np.ndarray:
        """The values (raw or smoothed) of the points with x in [lo, hi]: what sets the y range."""
        xs, ys = self.xs, (self.smoothed if smoothed else self.ys)
        if self.ascending:
            return ys[int(np.searchsorted(xs, lo, "left")):int(np.searchsorted(xs, hi, "right"))]
        return ys[(xs >= lo) & (xs <= hi)]

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
        picks = self._bucket_picks(ys, width, smoothed, stop)
        # buckets are aligned to multiples of width from 0: the ones in [start, stop) are a slice
        picks = picks[2 * (start // width):2 * (stop // width)]
        # the first and last points too, so the drawn extent (and autorange) matches the data's;
        # the pieces are in order, so dropping repeats is a comparison with the neighbour
        idx = np.concatenate([[i0], np.arange(i0, start), picks, np.arange(stop, i1), [i1 - 1]])
        idx = idx[np.concatenate([[True], np.diff(idx) != 0])]
        return xs[idx], ys[idx]

    def _bucket_picks(self, ys: np.ndarray, width: int, smoothed: bool, stop: int) -> np.ndarray:
        """Each full bucket's min and max index (in x order) from 0 to `stop`; buckets already worked
        out are kept, so a redraw of a growing series scans only the buckets added since the last one."""
        done, picks = self._envelope.get((width, smoothed), (0, np.empty(0, np.int64)))
        if stop > done:
            blocks = ys[done:stop].reshape(-1, width)
            lo_at, hi_at = blocks.argmin(axis=1), blocks.argmax(axis=1)
            base = done + np.arange(len(blocks)) * width
            new = np.empty(2 * len(blocks), dtype=np.int64)
            new[0::2] = base + np.minimum(lo_at, hi_at)    # in x order within each bucket
            new[1::2] = base + np.maximum(lo_at, hi_at)
            picks = np.concatenate([picks, new])
            if len(self._envelope) > 8:   # widths change as the series grows: keep the recent ones
                self._envelope.clear()
            self._envelope[(width, smoothed)] = (stop, picks)
        return picks

    @property
    def xs(self) -> np.ndarray:
        return self.x[:self.n]

    @property
    def ys(self) -> np.ndarray:
        return self.y[:self.n]

    @property
    def smoothed(self) -> np.ndarray:
        return self.smooth[:self.n]
