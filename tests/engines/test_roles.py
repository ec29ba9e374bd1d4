"""Role contracts without training: every family that declares a role (capabilities.py) keeps its
promises on a freshly built 8 px engine: shapes, determinism, progress and Stop where it is sequential.
A new family that declares a role is checked here with no test of its own."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engines import registry
from engines.config import replace_checked
from engines.families import capabilities
from engines.families.base import Cancelled, DataSpec
from tests.engines.family_cases import SMALL_CONFIG

SIZE = 8


def declaring(role: str) -> list[str]:
    return [n for n in registry.names() if capabilities.has(registry.get(n).engine_class, role)]


def build(name: str, classes: int = 2):
    family = registry.get(name)
    config = replace_checked(family.config_class(), **SMALL_CONFIG.get(name, {}))
    torch.manual_seed(0)
    return family.engine_class(config, DataSpec(SIZE, 1, classes, tuple(f"c{i}" for i in range(classes))), "cpu")


def images(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, SIZE, SIZE, 1), dtype=np.uint8)


def stop_after(k: int):
    calls = []

    def progress(done, total):
        calls.append((done, total))
        if len(calls) >= k:
            raise Cancelled()
    return progress, calls


@pytest.mark.parametrize("name", declaring("prior"))
def test_prior_role(name):
    e = build(name)
    x0 = e.to_space(images())
    assert tuple(x0.shape) == (3, *e.prior_shape())
    assert e.noise_level(capabilities.END) == pytest.approx((1.0, 0.0))
    times = list(e.prior_times())
    s = [e.noise_level(t)[1] for t in times]
    assert s == sorted(s) and s[0] < 0.1 and s[-1] > 0.9        # least noisy first, up to (nearly) pure noise
    t = times[len(times) // 2]
    a, sigma = e.noise_level(t)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    for labels in (None, np.array([0, 1, 0])):
        out = e.denoiser(labels)(a * x0 + sigma * eps, t)
        assert out.shape == x0.shape and torch.isfinite(out).all()
    assert e.prediction in ("eps", "v", "velocity")
    assert e.prediction_target(x0, eps, t).shape == x0.shape
    runs = []
    for _ in range(2):
        sched = e.prior_sampler(3, deterministic=True)
        assert len(sched.timesteps) == 3 and sched.label
        x = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
        den = e.denoiser(None)
        with torch.no_grad():
            for tt in sched.timesteps:
                x = sched.step(den(x, tt), tt, x)
        assert e.noise_level(sched.previous(sched.timesteps[-1]))[1] == 0   # the last step lands on the data
        runs.append(x)
    torch.testing.assert_close(runs[0], runs[1])
    start = times[len(times) // 4]
    partial = e.prior_sampler(2, start=start, deterministic=True)
    assert partial.timesteps[0] == start and len(partial.timesteps) == 2
    out = e.from_space(x0)
    assert out.shape == (3, SIZE, SIZE, 1) and out.dtype == np.uint8


@pytest.mark.parametrize("name", declaring("autoregressive"))
def test_autoregressive_role(name):
    e = build(name)
    known = e.to_sequence(e.to_images(e.to_sequence(images())))  # quantised models: onto their own grid first
    n, length = known.shape
    assert n == 3 and length % (SIZE * SIZE) == 0 and known.dtype == torch.int64
    np.testing.assert_array_equal(e.to_sequence(e.to_images(known)).cpu(), known.cpu())
    labels = torch.tensor([0, 1, 0])
    with torch.no_grad():
        lp = e.sequence_log_probs(known, labels)
    assert lp.shape[:2] == (3, length)
    torch.testing.assert_close(torch.logsumexp(lp, -1), torch.zeros(3, length), atol=1e-4, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(e.token_log_probs(known, labels), lp.gather(-1, known[..., None])[..., 0],
                                   atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(e.sequence_log_probs(known, labels, [0, length - 1]), lp[:, [0, length - 1]])
    seen = []
    first = e.sample_sequence(3, torch.Generator().manual_seed(5), labels, progress=lambda d, t: seen.append((d, t)))
    again = e.sample_sequence(3, torch.Generator().manual_seed(5), labels)
    assert first.shape == (3, length) and torch.equal(first, again)
    assert seen[-1] == (SIZE, SIZE)
    fixed = torch.ones_like(known, dtype=torch.bool)
    assert torch.equal(e.sample_sequence(3, torch.Generator().manual_seed(6), labels, known, fixed), known)
    progress, calls = stop_after(2)
    with pytest.raises(Cancelled):
        e.sample_sequence(3, torch.Generator().manual_seed(5), labels, progress=progress)
    assert len(calls) == 2


@pytest.mark.parametrize("name", declaring("renderer"))
def test_latent_renderer_role(name):
    e = build(name)
    shape = tuple(e.latent_shape())
    u = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    labels = torch.tensor([0, 1]) if e.conditional else None
    x = e.render_u(u, labels)
    assert x.shape == (2, 1, SIZE, SIZE) and torch.isfinite(x).all()
    x.sum().backward()
    assert u.grad is not None and torch.isfinite(u.grad).all() and u.grad.abs().sum() > 0  # differentiable in u
    if e.renders_encoded:
        assert tuple(e.encode_u(images(2)).shape) == (2, *shape)


@pytest.mark.parametrize("name", declaring("reconstruct"))
def test_reconstructor_role(name):
    e = build(name)
    out = e.reconstruct(images())
    assert out.shape == (3, SIZE, SIZE, 1) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, e.reconstruct(images()))
    assert e.reconstruction


@pytest.mark.parametrize("name", declaring("energy"))
def test_energy_role(name):
    e = build(name)
    x = torch.rand(3, 1, SIZE, SIZE) * 2 - 1
    assert e.energy(x).shape == (3,) and e.energy(x, torch.tensor([0, 1, 0])).shape == (3,)
    known = torch.zeros(3, 1, SIZE, SIZE)
    known[..., :4] = 1
    values = torch.full((3, 1, SIZE, SIZE), 0.5)
    seen = []
    out = e.langevin(x, 3, known=known, values=values, generator=torch.Generator().manual_seed(0),
                     progress=lambda d, t: seen.append((d, t)))
    assert out.shape == x.shape and (out[..., :4] == 0.5).all() and seen[-1] == (3, 3)
    again = e.langevin(x, 3, known=known, values=values, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, again)
    progress, calls = stop_after(1)
    with pytest.raises(Cancelled):
        e.langevin(x, 3, progress=progress)


@pytest.mark.parametrize("name", declaring("export"))
def test_exportable_role(name):
    e = build(name)
    net = e.export_network(3)
    with torch.no_grad():
        out = net.module(*net.inputs.values())
    assert out.shape[0] == 3 and torch.isfinite(out).all() and net.output
    assert all(v.shape[0] == 3 for v in net.inputs.values())
    json.dumps(net.about)


@pytest.mark.parametrize("name", [n for n in registry.names() if any(
    capabilities.has(registry.get(n).engine_class, r) for r in ("prior", "autoregressive", "energy"))])
def test_every_tool_a_role_allows_runs_on_a_fresh_engine(name):
    """A family reaches the tools through its roles alone (flow-matching has no tool code of its own)."""
    from engines.tools import denoise, inpaint, score, session, upscale

    e = build(name)
    pics, mask = images(2), np.zeros((SIZE, SIZE), bool)
    mask[4:, :] = True
    ran = []
    if session.can(e, "inpaint"):
        res = inpaint.inpaint(e, pics, mask, steps=2, resample=1, sweeps=1)
        assert (res.images[:, 0][:, ~mask] == pics[:, ~mask]).all()
        ran.append("inpaint")
    if session.can(e, "denoise"):
        assert denoise.denoise(e, pics, sigma=30.0, steps=2).images.shape == pics.shape
        ran.append("denoise")
    if session.can(e, "upscale"):
        assert upscale.upscale(e, pics[:, ::2, ::2], steps=2).images.shape == pics.shape
        ran.append("upscale")
    if session.can(e, "score"):
        assert np.isfinite(score.score(e, pics, projection_steps=2).scores).all()
        ran.append("score")
    assert ran
