"""Schedules, prediction targets and samplers, checked against closed forms (no training)."""

import math

import numpy as np
import pytest
import torch

from engines.diffusion.samplers import (AncestralScheduler, DDIMScheduler, denoise, invert, make_scheduler,
                                        spaced_timesteps)
from engines.diffusion.schedule import NoiseSchedule, cosine_alpha_bar


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_alpha_bar_decreases_from_one_to_almost_zero(kind):
    s = NoiseSchedule(kind, 1000)
    ab = s.alpha_bar
    assert torch.all(ab[1:] < ab[:-1])
    assert 0.999 < ab[0] < 1 and ab[-1] < 1e-4
    assert torch.all((s.betas > 0) & (s.betas < 1))


def test_linear_schedule_known_values():
    s = NoiseSchedule("linear", 1000, 1e-4, 0.02)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert s.alpha_bar[0].item() == pytest.approx(1 - 1e-4)
    beta1 = 1e-4 + (0.02 - 1e-4) / 999
    assert s.alpha_bar[1].item() == pytest.approx((1 - 1e-4) * (1 - beta1))
    assert s.alpha_bar[-1].item() == pytest.approx(4.04e-5, rel=0.02)  # the well-known end of Ho et al.'s schedule


def test_cosine_schedule_follows_its_formula_until_the_clip():
    s = NoiseSchedule("cosine", 1000)
    closed = cosine_alpha_bar(1000)
    np.testing.assert_allclose(s.alpha_bar[:990].numpy(), closed[:990].numpy(), rtol=1e-9)
    mid = math.cos((0.5 + 0.008) / 1.008 * math.pi / 2) ** 2 / math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    assert s.alpha_bar[499].item() == pytest.approx(mid)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_targets_convert_back_to_image_and_noise(prediction):
    s = NoiseSchedule("cosine", 1000)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(6, 3, 4, 4, generator=g) * 2 - 1, torch.randn(6, 3, 4, 4, generator=g)
    t = torch.tensor([0, 10, 200, 500, 900, 999])
    x_t = s.add_noise(x0, eps, t)
    target = s.target(prediction, x0, eps, t)
    x0_back, eps_back = s.split(prediction, target, x_t, t, clip=False)
    tol = 1e-3 if prediction == "eps" else 1e-5  # eps -> x0 divides by sqrt(alpha_bar), tiny at t = 999
    np.testing.assert_allclose(x0_back[:5], x0[:5], atol=1e-4)
    np.testing.assert_allclose(eps_back, eps, atol=tol)


def test_a_small_network_error_at_the_noisiest_step_ruins_eps_but_not_v():
    """Why ddpm defaults to v: at t = T - 1 of the cosine schedule sqrt(alpha_bar) is ~5e-5, so the
    image implied by an eps-prediction multiplies the network's error by ~2e4 (clipping then turns it
    into saturated speckle that a big DDIM step writes into x_t); v's implied image keeps the error's size."""
    s = NoiseSchedule("cosine", 1000)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(4, 1, 8, 8, generator=g) * 2 - 1, torch.randn(4, 1, 8, 8, generator=g)
    error = 1e-3 * torch.randn(4, 1, 8, 8, generator=g)
    t = torch.full((4,), 999)
    x_t = s.add_noise(x0, eps, t)
    x0_eps, _ = s.split("eps", s.target("eps", x0, eps, t) + error, x_t, t, clip=False)
    x0_v, _ = s.split("v", s.target("v", x0, eps, t) + error, x_t, t, clip=False)
    assert (x0_v - x0).abs().max() <= error.abs().max() * 1.001
    assert (x0_eps - x0).abs().mean() > 10  # far outside the data range [-1, 1]


def test_min_snr_weights():
    s = NoiseSchedule("linear", 1000)
    t = torch.arange(0, 1000, 50)
    w_eps = s.min_snr_weight(t, 5.0, "eps")
    snr = s.snr(t)
    np.testing.assert_allclose(w_eps, torch.clamp(snr, max=5.0) / snr, rtol=1e-6)
    assert torch.all(w_eps <= 1) and torch.all(w_eps[snr < 5] == 1)
    assert torch.all(s.min_snr_weight(t, 5.0, "v") < 1)


def test_spaced_timesteps_cover_both_ends():
    for steps in (1, 2, 10, 50, 1000, 5000):
        ts = spaced_timesteps(1000, steps)
        assert ts[0] == 999 and len(ts) == min(steps, 1000)
        assert all(a > b for a, b in zip(ts, ts[1:]))
        if steps > 1:
            assert ts[-1] == 0


def oracle_for_point(s: NoiseSchedule, point: torch.Tensor):
    """The exact eps-prediction when the data is one image."""
    def net(x, t):
        ab = s.alpha_bar_at(t, x)
        return (x - ab.sqrt() * point) / (1 - ab).sqrt()
    return net


def oracle_for_gaussian(s: NoiseSchedule, var: float):
    """The exact eps-prediction for data ~ N(0, var I): linear in x_t."""
    def net(x, t):
        ab = s.alpha_bar_at(t, x)
        return (1 - ab).sqrt() * x / (ab * var + 1 - ab)
    return net


@pytest.mark.parametrize("sampler, steps", [("ddim", 5), ("ddim", 50), ("ancestral", 20), ("ancestral", 1000)])
def test_samplers_land_on_the_data_with_an_exact_denoiser(sampler, steps):
    s = NoiseSchedule("linear", 1000)
    point = torch.linspace(-0.8, 0.8, 16).reshape(1, 1, 4, 4)
    scheduler = make_scheduler(sampler, s, "eps", steps, eta=0.5)
    g = torch.Generator().manual_seed(1)
    x, _ = denoise(oracle_for_point(s, point), scheduler, torch.randn(3, 1, 4, 4, generator=g), g)
    np.testing.assert_allclose(x, point.expand(3, -1, -1, -1), atol=1e-4)


def test_ddim_with_eta_one_is_ancestral_sampling():
    s = NoiseSchedule("cosine", 1000)
    net = oracle_for_gaussian(s, 0.3)
    outs = []
    for scheduler in (DDIMScheduler(s, "eps", eta=1.0), AncestralScheduler(s, "eps")):
        scheduler.set_timesteps(25)
        g = torch.Generator().manual_seed(3)
        outs.append(denoise(net, scheduler, torch.randn(2, 1, 4, 4, generator=g), g)[0])
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)


def test_same_generator_same_samples_and_progress_reported():
    s = NoiseSchedule("linear", 200)
    net = oracle_for_gaussian(s, 0.5)
    seen = []
    runs = []
    for seed in (4, 4, 5):
        scheduler = make_scheduler("ancestral", s, "eps", 30)
        g = torch.Generator().manual_seed(seed)
        runs.append(denoise(net, scheduler, torch.randn(2, 1, 4, 4, generator=g), g,
                            progress=lambda d, n: seen.append((d, n)))[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not torch.allclose(runs[0], runs[2])
    assert seen[:30] == [(i, 30) for i in range(1, 31)]


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_ddim_inversion_then_generation_reconstructs(prediction):
    s = NoiseSchedule("cosine", 1000)
    eps_net = oracle_for_gaussian(s, 0.25)

    def net(x, t):  # the same exact model, expressed as v when asked
        eps = eps_net(x, t)
        if prediction == "eps":
            return eps
        ab = s.alpha_bar_at(t, x)
        x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
        return ab.sqrt() * eps - (1 - ab).sqrt() * x0

    scheduler = DDIMScheduler(s, prediction, eta=0.0, clip=False)
    scheduler.set_timesteps(100)
    image = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0)) - 0.5
    noise = invert(net, scheduler, image)
    # for N(0, var) data the probability-flow ODE ends at x0 / sqrt(var): check the noise itself
    np.testing.assert_allclose(noise, image / 0.5, atol=5e-2)
    back, _ = denoise(net, scheduler, noise)
    np.testing.assert_allclose(back, image, atol=2e-2)
