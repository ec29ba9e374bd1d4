"""Flow layers and flow families against known answers: log-dets against brute-force Jacobians,
inverses to float tolerance, exact uint8 round trips, and bits/dim of an identity flow by hand."""

import math

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

from engines import registry
from engines.config import replace_checked
from engines.families.base import Batch, DataSpec
from engines.nn.flows import (ActNorm, Coupling, InvConv1x1, Preprocess, channel_mask, checkerboard_mask,
                              plan_scales, squeeze, unsqueeze)
from tests.helpers import tiny_dataset

TINY = {"realnvp": {"levels": 2, "couplings": 1, "hidden": 8, "blocks": 1},
        "glow": {"levels": 2, "steps": 2, "hidden": 8, "blocks": 1}}


def perturb(module: torch.nn.Module, scale: float = 0.2, seed: int = 0) -> None:
    """Move every parameter away from its (often identity) initialisation so the test has teeth."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def brute_logdet(fn, x: torch.Tensor) -> float:
    """log|det J| of fn at a single input x (1, C, H, W) by building the full Jacobian."""
    jac = jacobian(lambda v: fn(v.view_as(x)).flatten(), x.flatten(), vectorize=True)
    return torch.linalg.slogdet(jac)[1].item()


def layers(channels: int, size: int):
    yield "logit", Preprocess("logit", 0.05)
    yield "shift", Preprocess("shift")
    actnorm = ActNorm(channels)
    actnorm.initialised.fill_(1)
    yield "actnorm", actnorm
    yield "invconv", InvConv1x1(channels)
    yield "checkerboard", Coupling(checkerboard_mask(size, size, 1), channels, 5, 1, affine=True)
    yield "channel", Coupling(channel_mask(channels, 0), channels, 5, 1, affine=True)
    yield "additive", Coupling(channel_mask(channels, 1), channels, 5, 0, affine=False)


@pytest.mark.parametrize("channels", [2, 3])  # channel couplings need two channels (grey has 4 after a squeeze)
def test_each_layer_logdet_matches_brute_force_jacobian_and_inverts(channels):
    torch.manual_seed(0)
    x = torch.rand(1, channels, 4, 4, dtype=torch.float64) * 0.9 + 0.05
    for name, layer in layers(channels, 4):
        layer = layer.double()
        perturb(layer)
        layer.eval()
        y, logdet = layer(x)
        expected = brute_logdet(lambda v: layer(v)[0], x)
        assert logdet.shape == (1,), name
        assert logdet.item() == pytest.approx(expected, abs=1e-8), name
        assert torch.allclose(layer.inverse(y), x, atol=1e-10), name
        assert not torch.allclose(y, x), f"{name} is the identity: the test would prove nothing"


def test_squeeze_is_a_permutation_and_inverts():
    x = torch.randn(2, 3, 6, 8)
    y = squeeze(x)
    assert y.shape == (2, 12, 3, 4)
    assert torch.equal(unsqueeze(y), x)
    assert torch.equal(torch.sort(y.flatten(1), 1).values, torch.sort(x.flatten(1), 1).values)


def test_actnorm_initialises_once_from_data_and_remembers_it():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 5, 5) * 4 + 2
    norm = ActNorm(3)
    norm.eval()
    y, _ = norm(x)
    assert torch.equal(y, x) and int(norm.initialised) == 0  # never initialises outside training
    norm.train()
    y, _ = norm(x)
    assert int(norm.initialised) == 1
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
    state = norm.state_dict()
    assert "initialised" in state
    again = ActNorm(3)
    again.load_state_dict(state)
    again.train()
    y2, _ = again(x * 10)  # a different batch must not re-initialise a loaded layer
    assert torch.allclose(y2, (x * 10 + norm.bias) * norm.log_scale.exp())


@pytest.mark.parametrize("size, levels, expected", [
    (28, 3, [(1, 28, True, True), (2, 14, True, True), (4, 7, False, False)]),
    (16, 3, [(1, 16, True, True), (2, 8, True, True), (4, 4, False, False)]),
    (64, 2, [(1, 64, True, True), (2, 32, True, False)]),
    (7, 3, [(1, 7, False, False)]),
])
def test_multi_scale_plan_stops_where_a_squeeze_is_impossible(size, levels, expected):
    plan = plan_scales(1, size, levels)
    assert [(s.channels, s.size, s.squeeze, s.split) for s in plan] == expected


def make_engine(name, size=8, channels=1, **overrides):
    family = registry.get(name)
    config = replace_checked(family.config_class(), **{**TINY[name], **overrides})
    return family.engine_class(config, DataSpec(size, channels))


@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_whole_flow_density_matches_brute_force_jacobian(name):
    """log p(x) = log N(eps(x); 0, I) + log|det d eps/dx| for the map to standardised latents."""
    torch.manual_seed(1)
    engine = make_engine(name)
    flow = engine.flow.double()
    perturb(flow, 0.05)
    flow.eval()
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64) * 0.9 + 0.05
    eps = flow.encode(x)
    log_normal = (-0.5 * (eps ** 2 + math.log(2 * math.pi))).sum().item()
    expected = log_normal + brute_logdet(flow.encode, x)
    assert flow.log_prob(x).item() == pytest.approx(expected, abs=1e-7)
    assert torch.allclose(flow.decode(eps), x, atol=1e-10)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_encode_decode_reproduces_trained_images_exactly(name, channels):
    torch.manual_seed(0)
    data = tiny_dataset(n=8, size=16, channels=channels)
    engine = make_engine(name, size=16, channels=channels, lr=1e-2, warmup_steps=0)
    pixels = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    for _ in range(5):
        engine.train_step(Batch(pixels, torch.zeros(8, dtype=torch.long)))
    latents = engine.encode(data.images)
    assert latents.shape == (8, 16 * 16 * channels)
    assert torch.equal(latents, engine.encode(data.images))  # deterministic (mid-point dequantisation)
    np.testing.assert_array_equal(engine.decode(latents), data.images)
    # the float32 forward pass used in training agrees with the exact float64 encoder
    with torch.no_grad():
        engine.flow.eval()
        fast = engine.flow.encode((pixels.float() + 0.5) / 256)
    assert torch.allclose(fast, latents, atol=1e-3)


def test_identity_realnvp_bits_per_dim_by_hand():
    """Fresh couplings are the identity, so the density is the logit transform's and N(0, 1)'s."""
    engine = make_engine("realnvp", logit_alpha=0.05)
    pixels = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    got = engine.validate([Batch(pixels, torch.zeros(3, dtype=torch.long))])["bits_per_dim"]
    u = torch.rand(pixels.shape, generator=torch.Generator().manual_seed(1234))
    x = ((pixels.double() + u.double()) / 256).numpy()
    s = 0.05 + 0.9 * x
    y = np.log(s / (1 - s))
    log_p = -0.5 * (y ** 2 + np.log(2 * np.pi)) + np.log(0.9) - np.log(s) - np.log(1 - s)  # on (0,1)
    expected = np.mean(-log_p + np.log(256.0)) / np.log(2.0)  # per dim, rescaled to the 0..256 grid
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_temperature_scales_latents_and_is_validated(name):
    engine = make_engine(name)
    engine.set_sampling_options(temperature="0.5")
    half = engine.random_latents(4, seed=3)
    engine.set_sampling_options(temperature="1")
    full = engine.random_latents(4, seed=3)
    assert torch.allclose(half * 2, full)
    np.testing.assert_array_equal(engine.sample(2, seed=3), engine.decode(engine.random_latents(2, seed=3)))
    with pytest.raises(ValueError, match="temperature"):
        engine.set_sampling_options(temperature="hot")
    with pytest.raises(ValueError, match="temperature must be at least 0"):
        engine.set_sampling_options(temperature="-1")
    with pytest.raises(ValueError, match="no sampling option"):
        engine.set_sampling_options(steps="3")
    with pytest.raises(ValueError, match="uint8"):
        engine.encode(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="8x8"):
        engine.encode(np.zeros((1, 16, 16, 1), np.uint8))
