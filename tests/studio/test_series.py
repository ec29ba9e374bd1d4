import numpy as np
import pytest

from studio.series import Series, debiased_ema, ema


def reference_ema(x, w):
    out, s = np.empty_like(x), x[0]
    for i, v in enumerate(x):
        s = w * s + (1 - w) * v
        out[i] = s
    return out


def reference_debiased(x, w):
    """TensorBoard's smoothing, written as its recurrence: last = last*w + (1-w)*x; shown last / (1 - w^k)."""
    out, last = np.empty_like(x), 0.0
    for i, v in enumerate(x):
        last = last * w + (1 - w) * v
        out[i] = last / (1 - w ** (i + 1)) if w > 0 else v
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
    assert np.allclose(s.smoothed, reference_debiased(x, 0.9), atol=1e-9)
    s.set_weight(0.0)
    assert np.array_equal(s.smoothed, x)


def test_display_keeps_a_long_series_envelope_within_the_point_budget():
    rng = np.random.default_rng(3)
    s = Series()
    n = 300_001
    ys = rng.standard_normal(n)
    ys[123_457] = 40.0     # a spike: must survive the thinning
    ys[200_003] = -40.0
    s.extend(np.arange(n, dtype=float), ys)
    xs_d, ys_d = s.display(-1, n + 1, budget=4096)
    assert len(xs_d) <= 4096 + 2 and np.all(np.diff(xs_d) > 0)
    assert xs_d[0] == 0 and xs_d[-1] == n - 1                      # the ends are kept: autorange is unchanged
    assert ys_d.max() == 40.0 and ys_d.min() == -40.0
    assert set(zip(xs_d.tolist(), ys_d.tolist())) <= set(zip(range(n), ys.tolist()))  # real points only
    # a zoomed-in view gets every point of its stretch once it fits the budget
    xz, yz = s.display(1000, 2000, budget=4096)
    assert np.array_equal(xz, np.arange(999, 2002)) and np.array_equal(yz, ys[999:2002])
    # a short series, or one whose x went back (a rollback), is drawn as it is
    short = Series()
    short.extend([0, 1, 2], [1.0, 2.0, 3.0])
    assert len(short.display(0, 2, budget=2)[0]) == 3
    back = Series()
    back.extend(np.arange(10_000.0), np.zeros(10_000))
    back.extend([5.0], [1.0])
    assert len(back.display(0, 10_000, budget=100)[0]) == 10_001


def test_display_of_a_growing_series_does_not_shift_its_buckets():
    s = Series()
    s.extend(np.arange(100_000.0), np.sin(np.arange(100_000.0) / 50))
    before = s.display(-1, 1e9, budget=2048)
    s.extend([100_000.0], [0.0])
    after = s.display(-1, 1e9, budget=2048)
    # same bucket width and alignment: every earlier envelope point is drawn again
    assert set(before[0][:-1].tolist()) <= set(after[0].tolist())


def test_truncate_after_drops_the_points_a_rollback_undid():
    s = Series()
    s.weight = 0.5
    s.extend(np.arange(10.0), np.arange(10.0))
    s.truncate_after(6)
    assert list(s.xs) == [0, 1, 2, 3, 4, 5, 6] and s.ascending
    s.extend([7.0, 8.0], [70.0, 80.0])          # the replayed steps follow on
    assert list(s.ys[-3:]) == [6, 70, 80]
    jumbled = Series()
    jumbled.extend([0.0, 5.0, 3.0, 9.0], [1.0, 2.0, 3.0, 4.0])
    jumbled.truncate_after(4)
    assert list(jumbled.xs) == [0, 3] and list(jumbled.smoothed) == list(jumbled.ys)


def test_a_short_series_is_not_smoothed_past_a_fifth_of_its_points():
    # 20 points of a falling loss at the slider's 0.937: the average must stay near the data's end
    ys = np.linspace(1000.0, 550.0, 20)
    s = Series()
    s.weight = 0.937
    for i, y in enumerate(ys):
        s.append(float(i), float(y))
    assert s.applied_weight(20) == pytest.approx(0.75)
    assert np.allclose(s.smoothed, debiased_ema(ys, 0.75))  # as if smoothed in one go at the capped weight
    assert abs(s.smoothed[-1] - 550.0) < 100            # 0.937 uncapped ends near 800: 250 behind
    long = Series()
    long.weight = 0.937
    long.extend(np.arange(1000.0), np.zeros(1000))
    assert long.applied_weight(long.n) == 0.937         # long series get the slider's weight as it is


@pytest.mark.parametrize("weight", [0.0, 0.6, 0.9, 0.99])
def test_debiased_smoothing_is_tensorboards_and_starts_on_the_data(weight):
    x = np.random.default_rng(4).normal(size=3000) + 5
    assert np.allclose(debiased_ema(x, weight), reference_debiased(x, weight), atol=1e-9)
    s = Series(capacity=8)
    s.weight = weight
    for chunk in np.array_split(np.arange(3000), 7):  # appended in pieces, as events arrive
        s.extend(chunk.astype(float), x[chunk])
    assert np.allclose(s.smoothed, reference_debiased(x, s.applied_weight(s.n)), atol=1e-9)
    assert s.smoothed[0] == pytest.approx(x[0])  # no pull towards zero (or towards the first value)


def test_debiased_smoothing_follows_a_step_without_lagging_far():
    ys = np.r_[np.full(50, 10.0), np.full(200, 2.0)]
    s = Series()
    s.weight = 0.6  # the panel's default, as TensorBoard's
    s.extend(np.arange(250.0), ys)
    assert abs(s.smoothed[60] - 2.0) < 0.05  # within ten logged points of the change (0.937: 50+)


def test_robust_range_ignores_early_outliers_but_keeps_an_ordinary_curve_whole():
    from studio.series import robust_range
    vae = np.r_[700_000.0, 90_000.0, np.linspace(600, 480, 200)]
    lo, hi = robust_range([vae])
    assert 470 < lo < 480 and 600 < hi < 620  # the first values do not flatten the rest
    falling = np.linspace(1000.0, 550.0, 20)
    lo, hi = robust_range([falling])
    assert lo < 550 and hi > 1000  # nothing of an ordinary curve is cut
    lo, hi = robust_range([[1.0, 10.0, 100.0, 1000.0]], log=True)  # decades, in log10 as the axis takes
    assert lo < 0 and hi > 3
    assert robust_range([[-1.0, 0.0]], log=True) is None and robust_range([]) is None
    lo, hi = robust_range([[3.0, 3.0]])
    assert lo < 3 < hi  # a flat line gets a band, not a zero-height range
    lo, hi = robust_range([[0.2, 0.4, np.nan], [np.inf, 0.3]])
    assert lo < 0.2 and 0.4 < hi < 0.5


def test_palette_never_repeats_a_style_and_counters_are_recognised():
    from studio.series import curve_style, is_counter
    styles = [curve_style(i) for i in range(40)]
    assert len(set(styles)) == 40 and len({c for c, _ in styles[:10]}) == 10
    assert styles[10] == (styles[0][0], "dash")
    assert is_counter("d_saturated_steps") and is_counter("class_count/3") and is_counter("code_restarts")
    assert not is_counter("val/bits_per_dim") and not is_counter("d_loss") and not is_counter("sample_diversity")


def test_the_extent_cache_judges_only_new_points_and_agrees_with_robust_range():
    import numpy as np

    from studio.series import ExtentCache, robust_range, padded_range
    rng = np.random.default_rng(0)
    values = np.concatenate([[700_000.0], 1.0 + 0.1 * rng.standard_normal(50_000)])
    cache = ExtentCache()
    key = (-np.inf, np.inf, False, 0.6, False)
    first = cache.extent_of(values, key, log=False)
    assert first[1] < 10                                          # the outlier is left out
    more = np.concatenate([values, [1.8, 1e9]])                   # a new inlier high, a new outlier
    grown = cache.extent_of(more, key, log=False)
    assert cache.n == len(more) and grown[1] == 1.8
    assert padded_range([grown]) == robust_range([more])


def test_display_of_a_growing_series_matches_a_fresh_one():
    """display() keeps the bucket envelope between redraws; appending must give what a fresh series gives."""
    import numpy as np

    from studio.series import Series
    rng = np.random.default_rng(1)
    grown, ys = Series(), rng.standard_normal(40_000)
    grown.set_weight(0.6)
    for i in range(0, 40_000, 7_000):
        grown.extend(np.arange(i, min(i + 7_000, 40_000)), ys[i:i + 7_000])
        fresh = Series()
        fresh.set_weight(0.6)
        fresh.extend(np.arange(min(i + 7_000, 40_000)), ys[:i + 7_000])
        for smoothed in (False, True):
            for lo, hi in ((-np.inf, np.inf), (1_000, 30_000)):
                a, b = grown.display(lo, hi, 1024, smoothed), fresh.display(lo, hi, 1024, smoothed)
                assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])


def test_a_curve_that_settles_at_a_new_level_is_judged_again_as_it_grows():
    """Growing a point per redraw, a curve was judged against the median and spread of its first points
    for ever: an SN-GAN d_loss that rose from 0.3 to 1.8 stayed above the top of the studio's loss plot
    for the rest of the five-minute first run. The cache works everything out again every tenth of growth."""
    import numpy as np

    from studio.series import ExtentCache, robust_range, padded_range
    rng = np.random.default_rng(2)
    values = np.concatenate([0.3 + 0.05 * rng.standard_normal(30), 1.8 + 0.05 * rng.standard_normal(200)])
    cache, key = ExtentCache(), (-np.inf, np.inf, False, 0.6, False)
    for n in range(10, len(values) + 1):      # one new point per redraw
        extent = cache.extent_of(values[:n], key, log=False)
    assert extent[1] > 1.8 and padded_range([extent])[1] >= values.max()
    assert padded_range([extent]) == robust_range([values])


def test_a_live_range_stays_put_while_the_data_stays_well_inside_it():
    from studio.series import steady_range
    first = steady_range(None, (492.0, 607.5))
    assert first[0] <= 492.0 and first[1] >= 607.5 and first[1] - first[0] <= 1.2 * 115.5   # rounded outwards
    assert steady_range(first, (494.0, 600.0)) is first                                    # still fits: kept
    lower = steady_range(first, (470.0, 600.0))                                              # left it: refitted
    assert lower[0] <= 470.0 and lower != first
    assert steady_range((0.0, 1000.0), (490.0, 610.0))[1] - steady_range((0.0, 1000.0), (490.0, 610.0))[0] < 200
    grown = steady_range(None, (0.0, 1000.0), grow=0.1)                                      # x: room to grow
    assert grown[1] >= 1100.0 and steady_range(grown, (0.0, 1090.0), grow=0.1) is grown
