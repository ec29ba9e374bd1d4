"""Sample-quality measures on known answers (engines/metrics.py)."""

import numpy as np
import pytest

from engines.metrics import (DC_NEIGHBOURS, KID_METHOD, RandomFeatures, density_coverage, extractor_for, kid,
                             kid_subsets, memorisation, precision_recall, quality_report)
from engines.quality import frechet_distance


def _gauss(n, d=16, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(shift, 1.0, (n, d))


def test_a_set_against_itself():
    x = _gauss(400)
    assert frechet_distance(x, x) < 1e-8
    value, se = kid(x, x, bootstrap=50)
    near = kid(x, _gauss(400, shift=0.5, seed=9), bootstrap=0)[0]
    # one set against itself: the unbiased estimate pulls a little below 0 (order 1/n)
    assert abs(value) < 0.05 and se > 0 and abs(value) < 0.1 * near
    assert precision_recall(x, x) == (1.0, 1.0)
    density, coverage = density_coverage(x, x)
    assert coverage == 1.0 and density >= 1.0


def test_two_draws_of_one_distribution_against_a_shifted_one():
    a, b, far = _gauss(500, seed=1), _gauss(500, seed=2), _gauss(500, shift=3.0, seed=3)
    same, same_se = kid(a, b, bootstrap=50)
    shifted, shifted_se = kid(a, far, bootstrap=50)
    assert abs(same) < 4 * same_se + 0.02 and shifted > 100 * max(abs(same), same_se)
    p, r = precision_recall(a, b)
    assert p > 0.7 and r > 0.7  # k = 3 in 16 dimensions: the k-NN balls miss some of a fresh draw
    density, coverage = density_coverage(a, b)
    assert DC_NEIGHBOURS == 5 and 0.6 < density < 1.4 and coverage > 0.8


def _unbiased_mmd_by_loops(x, y):
    k = lambda u, v: (u @ v / x.shape[1] + 1) ** 3  # noqa: E731
    n, m = len(x), len(y)
    return (sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
            + sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
            - 2 * sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m))


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    x, y = _gauss(6, d=3, seed=4), _gauss(5, d=3, shift=0.5, seed=5)
    value, se = kid(x, y, bootstrap=0)
    assert value == pytest.approx(_unbiased_mmd_by_loops(x, y), rel=1e-10) and np.isnan(se)
    # a bootstrap resample counts each pair of distinct original samples: no bias from duplicates
    rng = np.random.default_rng(3)
    ix, iy = rng.integers(0, 6, 6), rng.integers(0, 5, 5)
    from engines.metrics import _cubic, _within
    cx, cy = np.bincount(ix, minlength=6).astype(float), np.bincount(iy, minlength=5).astype(float)
    xs = x[ix]
    keep = ix[:, None] != ix[None, :]
    expected = _cubic(xs, xs)[keep].mean()
    assert _within(_cubic(x, x), cx) == pytest.approx(expected, rel=1e-12)
    assert "bootstrap" in KID_METHOD


def test_kid_error_bar_matches_the_spread_of_independent_draws():
    """The ± is honest: across fresh, independent draws of both sets, the estimates scatter by about
    the bootstrap standard error (the old mean-over-subsets error was 2-3x too small)."""
    estimates, errors, subset_errors = [], [], []
    for rep in range(24):
        real, fake = _gauss(200, d=8, seed=100 + rep), _gauss(120, d=8, shift=0.3, seed=300 + rep)
        value, se = kid(real, fake, bootstrap=60, seed=rep)
        estimates.append(value)
        errors.append(se)
        rng = np.random.default_rng(rep)
        sub = [kid(real[rng.choice(200, 100, replace=False)], fake[rng.choice(120, 100, replace=False)],
                   bootstrap=0)[0] for _ in range(10)]
        subset_errors.append(np.std(sub, ddof=1) / np.sqrt(10))
    spread = np.std(estimates, ddof=1)
    assert 0.6 < np.mean(errors) / spread < 1.6, (np.mean(errors), spread)
    assert np.mean(subset_errors) / spread < 0.6  # what the old ± did: subsets sharing samples


def test_kid_subsets_is_torch_fidelitys_way_and_refuses_subsets_larger_than_a_set():
    a, b = _gauss(60, d=4, seed=1), _gauss(50, d=4, seed=2)
    mean, std = kid_subsets(a, b, subsets=5, subset_size=40)
    assert np.isfinite(mean) and std > 0
    with pytest.raises(ValueError, match="larger"):
        kid_subsets(a, b, subset_size=51)


def _with_moments(mu, cov, n=400, seed=0):
    """n samples whose sample mean and covariance (ddof 1) are exactly mu and cov."""
    d = len(mu)
    z = np.random.default_rng(seed).normal(size=(n, d))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T   # sample covariance I
    return z @ np.linalg.cholesky(cov).T + mu


def test_frechet_known_answer_with_unequal_non_commuting_covariances():
    s1 = np.array([[2.0, 0.5], [0.5, 1.0]])
    s2 = np.array([[1.0, -0.7], [-0.7, 3.0]])
    assert not np.allclose(s1 @ s2, s2 @ s1)                  # the cross term is really tested
    mu1, mu2 = np.array([0.0, 1.0]), np.array([2.0, -1.0])
    # 2x2 closed form: tr sqrt(S1^1/2 S2 S1^1/2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))
    cross = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * cross
    got = frechet_distance(_with_moments(mu1, s1, seed=1), _with_moments(mu2, s2, seed=2))
    assert got == pytest.approx(expected, rel=1e-9)
    # symmetric, and in 3-d against the eigenvalues of S1 S2 (tr sqrt of a product's spectrum)
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    c1, c2 = a @ a.T + 0.1 * np.eye(3), b @ b.T + 0.1 * np.eye(3)
    m1, m2 = rng.normal(size=3), rng.normal(size=3)
    cross3 = np.sqrt(np.clip(np.linalg.eigvals(c1 @ c2).real, 0, None)).sum()
    expected3 = ((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * cross3
    x, y = _with_moments(m1, c1, seed=3), _with_moments(m2, c2, seed=4)
    assert frechet_distance(x, y) == pytest.approx(expected3, rel=1e-9)
    assert frechet_distance(y, x) == pytest.approx(expected3, rel=1e-9)


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


def test_kid_and_precision_recall_agree_with_torch_fidelity_on_the_same_features():
    """Optional cross-check (torch-fidelity is not a dependency: skipped when it is not installed)."""
    tf_kid = pytest.importorskip("torch_fidelity.metric_kid")
    tf_prc = pytest.importorskip("torch_fidelity.metric_prc")
    import torch

    real, fake = _gauss(300, d=16, seed=11), _gauss(300, d=16, shift=0.4, seed=12)
    theirs = tf_kid.polynomial_mmd(real, fake, degree=3, gamma=None, coef0=1)
    assert kid(real, fake, bootstrap=0)[0] == pytest.approx(float(theirs), rel=1e-9)
    p, r = tf_prc.calculate_precision_recall_full(torch.from_numpy(real), torch.from_numpy(fake), neighborhood=3)
    assert precision_recall(real, fake, k=3) == (pytest.approx(p), pytest.approx(r))
