"""Flow matching (rectified flow): the path, the time sampling, the ODE solvers both ways, the options."""

import numpy as np
import pytest
import torch

from engines import registry
from engines.config import ConfigError, replace_checked
from engines.families import capabilities
from engines.families.base import DataSpec
from engines.families.flow_matching import integrate, interpolate, time_grid, training_times, velocity_target
from tests.engines.family_cases import SMALL_CONFIG


def engine(classes=0, **changes):
    family = registry.get("flow-matching")
    config = replace_checked(family.preset(family.config_class(), 16), **{**SMALL_CONFIG["flow-matching"], **changes})
    torch.manual_seed(0)
    e = family.engine_class(config, DataSpec(16, 1, classes, tuple("abc"[:classes])), "cpu")
    with torch.no_grad():  # the head starts at zero (velocity 0 everywhere): give it a field to follow
        for p in e.net.head.parameters():
            p.normal_(0, 0.05)
    e.set_sampling_options(ema=False)
    return e


def test_the_straight_path_and_its_velocity():
    x0, eps = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    t = torch.tensor([0.0, 0.5, 1.0])
    x_t = interpolate(x0, eps, t)
    torch.testing.assert_close(x_t[0], x0[0])
    torch.testing.assert_close(x_t[2], eps[2])
    torch.testing.assert_close(x_t[1], (x0[1] + eps[1]) / 2)
    # the velocity is constant along the path, so one Euler step from the noise lands on the image exactly
    target = velocity_target(x0, eps)
    out, _ = integrate(lambda x, t: target, eps, time_grid(1))
    torch.testing.assert_close(out, x0)


def test_logit_normal_times_weight_the_middle():
    gen = torch.Generator().manual_seed(0)
    t = training_times(20_000, "logit-normal", generator=gen)
    u = training_times(20_000, "uniform", generator=gen)
    assert 0 < t.min() and t.max() < 1
    middle = lambda s: ((s > 0.3) & (s < 0.7)).float().mean().item()  # noqa: E731
    assert middle(t) > middle(u) + 0.1
    assert abs(t.median().item() - 0.5) < 0.02
    with pytest.raises(ValueError, match="time_sampling"):
        training_times(3, "cosine")


def test_heun_inverts_more_exactly_than_euler_and_more_steps_help():
    def field(x, t):  # a curved flow, so the solvers' errors show
        return torch.sin(3 * x) * (1 + t)

    x = torch.linspace(-1, 1, 50).reshape(1, 1, 5, 10)

    def round_trip_error(method, steps):
        z, _ = integrate(field, x, time_grid(steps, 0.0, 1.0), method)
        back, _ = integrate(field, z, time_grid(steps), method)
        return (back - x).abs().max().item()

    euler2, euler16, heun16 = round_trip_error("euler", 2), round_trip_error("euler", 16), round_trip_error("heun", 16)
    assert euler16 < euler2 / 4 and heun16 < euler16 / 4


def test_real_images_go_to_noise_and_back():
    e = engine()
    images = e.sample(2, seed=1)
    e.set_sampling_options(sampler="heun", steps=8)
    z = e.encode(images)
    assert z.shape == (2, 1, 16, 16) and z.std() > 0.3
    assert np.abs(e.decode(z).astype(float) - images).mean() < 1.0


def test_stochastic_sampling_is_repeatable_and_noise_zero_is_the_ode():
    e = engine(classes=2)
    ode = e.sample(2, seed=3)
    e.set_sampling_options(noise=0.5)
    noisy = e.sample(2, seed=3)
    assert not np.array_equal(ode, noisy)
    np.testing.assert_array_equal(noisy, e.sample(2, seed=3))
    e.set_sampling_options(noise=0.0)
    np.testing.assert_array_equal(ode, e.sample(2, seed=3))


def test_steps_are_a_sampling_option_from_1_to_100_and_progress_can_stop():
    e = engine()
    calls = []
    e.set_sampling_options(steps=1, sampler="euler")
    e.sample(2, seed=0, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(1, 1)]
    with pytest.raises(ConfigError, match="steps"):
        e.set_sampling_options(steps=101)
    e.set_sampling_options(steps=5)

    def stop(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        e.sample(2, seed=0, progress=stop)
    frames, times = e.sample_path(2, seed=0, keep_steps=3)
    assert frames.shape[:2] == (3, 2) and times[0] == 1.0 and times[-1] == 0.0
    np.testing.assert_array_equal(frames[-1], e.sample(2, seed=0))
    assert [s for s, _ in e.sampling_times((1, 2), n=1)] == [1, 2]


def test_declares_what_ddpm_declares():
    flow, ddpm = registry.get("flow-matching").engine_class, registry.get("ddpm").engine_class
    assert capabilities.of(flow) == capabilities.of(ddpm)
    assert "ODE" in flow.encoding
