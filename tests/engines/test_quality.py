"""Sample-quality measures: Fréchet distance and the small classifier's feature space."""

import numpy as np
import pytest
import torch

from engines.quality import FeatureSpace, frechet_distance
from tests.helpers import tiny_dataset


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    a = np.random.default_rng(0).normal(size=(500, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifts = [frechet_distance(a, a + s) for s in (0.5, 1.0, 2.0)]
    assert shifts == pytest.approx([8 * 0.25, 8 * 1.0, 8 * 4.0], rel=1e-6)  # ||shift||^2, same covariance


def test_frechet_distance_sees_a_change_of_spread():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2000, 4)), rng.normal(size=(2000, 4))
    wide = rng.normal(size=(2000, 4)) * 3
    assert frechet_distance(a, b) < 0.1 < 4 * (3 - 1) ** 2 * 0.9 < frechet_distance(a, wide)


def test_frechet_distance_refuses_mismatched_features():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


@pytest.fixture(scope="module")
def blobs():
    torch.set_num_threads(1)
    data = tiny_dataset(n=120, size=16, channels=1, classes=3)  # blob size depends on the class
    state = torch.get_rng_state()
    space = FeatureSpace.fit(data.images, data.labels, epochs=15, seed=0)
    assert torch.equal(state, torch.get_rng_state()), "fitting must not move the caller's RNG"
    return data, space


def test_feature_space_learns_the_classes_and_counts_coverage(blobs):
    data, space = blobs
    assert space.train_accuracy > 0.9
    assert space.features(data.images).shape == (120, 64)
    assert space.classes_covered(data.images) == 3
    only_one = data.images[data.labels == 1]
    assert space.classes_covered(only_one) == 1


def test_frechet_in_the_feature_space_grows_as_sets_drift_apart(blobs):
    data, space = blobs
    images = data.images
    assert space.frechet(images, images) == pytest.approx(0.0, abs=1e-6)
    drifts = [space.frechet(images, (images * f).astype(np.uint8)) for f in (0.9, 0.6, 0.3)]
    assert 0 < drifts[0] < drifts[1] < drifts[2], drifts
    # the classifier resizes and converts whatever it is given
    rgb = np.repeat(images, 3, axis=-1)[:, ::2, ::2]
    assert space.features(rgb).shape == (120, 64)
