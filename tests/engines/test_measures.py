"""The bits/dim code on cases with known answers."""

import math

import pytest
import torch
from torch.nn import functional as F

from engines.measures import (bernoulli_256_mean, bernoulli_256_nll, bits_per_dim, continuous_nll_to_bpd,
                              discretized_gaussian_nll, discretized_logistic_nll, discretized_mean,
                              nats_to_bits_per_dim, uniform_bits_per_dim)

LEVELS = torch.arange(256)
PARAMS = [(0.0, -1.0), (0.5, -4.0), (-1.0, -6.0), (0.99, 0.5), (0.0, 3.0), (0.3, -7.0), (-0.7, -5.5)]


def test_a_uniform_model_on_8bit_data_is_8_bits_per_dim():
    dims = 3 * 16 * 16
    nll_per_image = torch.full((5,), dims * math.log(256))
    assert bits_per_dim(nll_per_image, dims) == pytest.approx(8.0)
    assert uniform_bits_per_dim() == 8.0
    # a density that is uniform on [0, 1] (dequantised data scaled to unit range) is 8 bits/dim too
    assert continuous_nll_to_bpd(0.0, dims, scale=1.0) == pytest.approx(8.0)
    # the Bernoulli-on-grey-levels distribution with logit 0 is exactly uniform over the 256 values
    nll = bernoulli_256_nll(LEVELS, torch.zeros(256))
    assert nats_to_bits_per_dim(float(nll.sum()), 256) == pytest.approx(8.0, abs=1e-5)


@pytest.mark.parametrize("nll_fn", [discretized_logistic_nll, discretized_gaussian_nll])
@pytest.mark.parametrize("mean, log_scale", PARAMS)
def test_discretised_distributions_sum_to_one_over_the_256_values(nll_fn, mean, log_scale):
    nll = nll_fn(LEVELS, torch.full((256,), mean), torch.full((256,), log_scale))
    assert torch.isfinite(nll).all() and (nll >= -1e-6).all()
    assert torch.exp(-nll.double()).sum().item() == pytest.approx(1.0, abs=1e-5)


def _brute_force_bin_probability(cdf, k, mean, scale):
    """P(k) from the CDF in float64: the edge bins take the tails."""
    centre = k / 127.5 - 1.0
    hi = 1.0 if k == 255 else cdf((centre + 1 / 255 - mean) / scale)
    lo = 0.0 if k == 0 else cdf((centre - 1 / 255 - mean) / scale)
    return hi - lo


@pytest.mark.parametrize("nll_fn, cdf", [
    (discretized_logistic_nll, lambda t: torch.sigmoid(torch.tensor(t, dtype=torch.float64)).item()),
    (discretized_gaussian_nll, lambda t: torch.special.ndtr(torch.tensor(t, dtype=torch.float64)).item()),
])
def test_bin_probabilities_match_the_cdf_difference(nll_fn, cdf):
    mean, log_scale = 0.2, -2.5
    nll = nll_fn(LEVELS, torch.full((256,), mean), torch.full((256,), log_scale))
    for k in (0, 1, 60, 153, 154, 200, 254, 255):
        expected = _brute_force_bin_probability(cdf, k, mean, math.exp(log_scale))
        assert math.exp(-nll[k].item()) == pytest.approx(expected, rel=1e-4, abs=1e-9)


def test_a_sharp_logistic_on_the_right_value_costs_almost_nothing():
    pixels = torch.tensor([0, 17, 128, 255])
    nll = discretized_logistic_nll(pixels, pixels / 127.5 - 1.0, torch.full((4,), -9.0))
    assert nats_to_bits_per_dim(float(nll.sum()), 4) < 1e-3
    far = discretized_logistic_nll(pixels, 1.0 - pixels / 127.5, torch.full((4,), -9.0))
    assert torch.isfinite(far).all() and far[1:3].min() > 20  # wrong and certain: very costly, still finite


def test_gradients_stay_finite_at_the_extremes():
    mean = torch.tensor([-3.0, 0.0, 3.0, 0.0], requires_grad=True)
    log_scale = torch.tensor([-7.0, -7.0, 2.0, -7.0], requires_grad=True)
    pixels = torch.tensor([255, 0, 128, 128])
    for fn in (discretized_logistic_nll, discretized_gaussian_nll):
        mean.grad = log_scale.grad = None
        fn(pixels, mean, log_scale).sum().backward()
        assert torch.isfinite(mean.grad).all() and torch.isfinite(log_scale.grad).all()


@pytest.mark.parametrize("logit", [-3000.0, -50.0, -0.3, 1e-7, 2.0, 400.0])
def test_bernoulli_256_is_the_normalised_bernoulli_of_grey_levels(logit):
    # brute force: P(k) proportional to p^(k/255) (1-p)^(1-k/255), normalised over k = 0..255
    p = torch.sigmoid(torch.tensor(logit, dtype=torch.float64))
    k = LEVELS.double() / 255
    log_unnorm = k * F.logsigmoid(torch.tensor(logit, dtype=torch.float64)) + (1 - k) * F.logsigmoid(
        torch.tensor(-logit, dtype=torch.float64))
    expected = -(log_unnorm - torch.logsumexp(log_unnorm, 0))
    got = bernoulli_256_nll(LEVELS, torch.full((256,), logit)).double()
    assert torch.allclose(got, expected, atol=2e-3 * max(1.0, abs(logit) / 255)), (p, got[:3], expected[:3])
    mean = (torch.exp(-expected) * LEVELS.double()).sum()
    assert bernoulli_256_mean(torch.tensor([logit])).item() == pytest.approx(mean.item(), abs=1e-2)


def test_near_binary_images_get_near_zero_bits_under_a_confident_bernoulli():
    pixels = torch.tensor([0, 255, 255, 0])
    logits = torch.tensor([-5000.0, 5000.0, 5000.0, -5000.0])
    assert nats_to_bits_per_dim(float(bernoulli_256_nll(pixels, logits).sum()), 4) < 1e-3


@pytest.mark.parametrize("kind, nll_fn", [("logistic", discretized_logistic_nll), ("gaussian", discretized_gaussian_nll)])
@pytest.mark.parametrize("mean, log_scale", PARAMS)
def test_discretised_mean_is_the_expectation_over_the_256_values(kind, nll_fn, mean, log_scale):
    probs = torch.exp(-nll_fn(LEVELS, torch.full((256,), mean), torch.full((256,), log_scale)).double())
    expected = float((probs * LEVELS.double()).sum())
    got = discretized_mean(torch.tensor([[mean]]), torch.tensor([[log_scale]]), kind)
    assert got.shape == (1, 1) and got.item() == pytest.approx(expected, abs=2e-3)
