import numpy as np
import pytest

from studio.series import Series, ema


def reference_ema(x, w):
    out, s = np.empty_like(x), x[0]
    for i, v in enumerate(x):
        s = w * s + (1 - w) * v
        out[i] = s
    return out


@pytest.mark.parametrize("weight", [0.0, 0.5, 0.9, 0.99, 0.999])
def test_vectorised_ema_matches_the_recurrence(weight):
    x = np.random.default_rng(1).normal(size=20_000) * 3 + 1
    assert np.allclose(ema(x, weight), reference_ema(x, weight), rtol=0, atol=1e-9)


def test_series_grows_by_doubling_and_keeps_smoothing_incremental():
    x = np.random.default_rng(2).normal(size=5000)
    s = Series(capacity=4)
    s.weight = 0.9
    for i in range(3000):
        s.append(i, x[i])
    s.extend(np.arange(3000, 5000), x[3000:])
    assert s.n == 5000 and len(s.x) == 8192
    assert np.array_equal(s.xs, np.arange(5000)) and np.array_equal(s.ys, x)
    assert np.allclose(s.smoothed, reference_ema(x, 0.9), atol=1e-9)
    s.set_weight(0.0)
    assert np.array_equal(s.smoothed, x)
