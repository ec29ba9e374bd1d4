"""Sample-quality measures on known answers (engines/metrics.py)."""

import numpy as np
import pytest

from engines.metrics import (RandomFeatures, density_coverage, extractor_for, kid, memorisation,
                             precision_recall, quality_report)
from engines.quality import frechet_distance


def _gauss(n, d=16, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(shift, 1.0, (n, d))


def test_a_set_against_itself():
    x = _gauss(400)
    assert frechet_distance(x, x) < 1e-8
    mean, se = kid(x, x, subsets=20, subset_size=200)
    # unbiased for independent sets; subsets of one set share points, which pulls it a little below 0
    # (order 1/subset size): still a small fraction of what a half-standard-deviation shift gives
    near = kid(x, _gauss(400, shift=0.5, seed=9), subsets=20, subset_size=200)[0]
    assert abs(mean) < 0.05 and se > 0 and abs(mean) < 0.1 * near
    assert precision_recall(x, x) == (1.0, 1.0)
    density, coverage = density_coverage(x, x)
    assert coverage == 1.0 and density >= 1.0


def test_two_draws_of_one_distribution_against_a_shifted_one():
    a, b, far = _gauss(500, seed=1), _gauss(500, seed=2), _gauss(500, shift=3.0, seed=3)
    same, same_se = kid(a, b, subset_size=250)
    shifted, shifted_se = kid(a, far, subset_size=250)
    assert abs(same) < 4 * same_se + 0.02 and shifted > 100 * max(abs(same), same_se)
    p, r = precision_recall(a, b)
    assert p > 0.7 and r > 0.7  # k = 3 in 16 dimensions: the k-NN balls miss some of a fresh draw
    density, coverage = density_coverage(a, b)
    assert 0.6 < density < 1.4 and coverage > 0.8


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    # one subset of all rows: the estimate equals the formula written out with loops
    x, y = _gauss(6, d=3, seed=4), _gauss(5, d=3, shift=0.5, seed=5)
    k = lambda u, v: (u @ v / 3 + 1) ** 3  # noqa: E731
    m = 5
    rng = np.random.default_rng(0)  # the subsets kid() draws with seed 0
    xs, ys = x[rng.choice(6, m, replace=False)], y[rng.choice(5, m, replace=False)]
    expected = (sum(k(xs[i], xs[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
                + sum(k(ys[i], ys[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
                - 2 * sum(k(xs[i], ys[j]) for i in range(m) for j in range(m)) / m ** 2)
    mean, se = kid(x, y, subsets=1, subset_size=m, seed=0)
    assert mean == pytest.approx(expected, rel=1e-10) and np.isnan(se)


def test_disjoint_sets_have_no_precision_no_recall_no_coverage():
    a, far = _gauss(200), _gauss(200, shift=50.0, seed=1)
    assert precision_recall(a, far) == (0.0, 0.0)
    assert density_coverage(a, far) == (0.0, 0.0)


def test_half_the_modes_gives_full_precision_and_half_recall():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [100.0, 0.0]])
    real = np.concatenate([c + rng.normal(0, 1, (200, 2)) for c in centres])
    fake = centres[0] + rng.normal(0, 1, (400, 2))  # mode collapse onto one of two modes
    p, r = precision_recall(real, fake)
    assert p > 0.95 and 0.4 < r < 0.6
    assert 0.4 < density_coverage(real, fake)[1] < 0.6


def test_copies_of_training_images_are_flagged_as_memorised_and_fresh_draws_are_not():
    train = _gauss(300, seed=0)
    fresh = _gauss(100, seed=7)
    copies = train[[5, 17, 42, 99]]
    mem = memorisation(train, np.concatenate([fresh, copies]))
    assert mem.flagged[-4:].all() and list(mem.nearest[-4:]) == [5, 17, 42, 99]
    assert np.allclose(mem.distance[-4:], 0)
    assert mem.flagged[:100].mean() < 0.15  # ~5% by construction for fresh draws
    assert memorisation(train, copies).share == 1.0
    # duplicates in the training data make the threshold 0: copies still count
    dup = np.concatenate([train, train])
    assert memorisation(dup, copies).share == 1.0


def test_report_from_images_names_its_extractor():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60, 12, 12, 1), dtype=np.uint8)
    extractor, name = extractor_for(images)  # no labels: random features
    assert isinstance(extractor, RandomFeatures) and "random" in name
    assert np.array_equal(extractor.features(images), RandomFeatures(12, 1).features(images))  # seeded
    report = quality_report(extractor, name, images, images)
    assert report.extractor == name and report.memorised == 1.0
    assert (report.precision, report.recall, report.coverage) == (1.0, 1.0, 1.0) and report.frechet < 1e-6
    assert list(report.nearest) == list(range(60))
    copies = quality_report(extractor, name, images, images[10:30])
    assert copies.memorised == 1.0 and list(copies.nearest) == list(range(10, 30))
    data = report.to_json()
    assert set(data) >= {"kid", "kid_std_error", "precision", "recall", "density", "coverage", "memorised",
                         "frechet", "extractor"} and "nearest" not in data
    labels = np.arange(60) % 2
    extractor, name = extractor_for(images, labels)
    assert "classifier" in name and "2 classes" in name
