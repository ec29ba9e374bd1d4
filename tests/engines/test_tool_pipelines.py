"""The tool pipelines over roles, against one small fake per role (tests/engines/role_fakes.py):
the algorithms are checked where their answer is known, without training a model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engines.families.base import Cancelled
from engines.tools import denoise as dn
from engines.tools import inpaint as ip
from engines.tools import score as sc
from engines.tools import upscale as up
from engines.tools.common import ToolError, psnr
from tests.engines.role_fakes import FakeAutoencoder, FakeAutoregressive, FakeEnergy, FakeLatentPrior, FakePrior, FakeRenderer

SIZE = 8
VALUE = 0.2                                     # the fake prior's data, on [-1, 1]
GREY = int(round((VALUE + 1) * 127.5))          # ... on 0-255


def pictures(n=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 1), dtype=np.uint8)


def hole_last():  # the bottom half: after every known pixel in raster order
    return ip.box_mask(SIZE, (0, 4, 8, 4))


def hole_middle():
    return ip.box_mask(SIZE, (2, 2, 3, 3))


# --- the prior: RePaint, ILVR, denoising from the matching level, denoising error ------------------------

def test_repaint_fills_the_hole_from_the_prior_and_keeps_the_rest():
    images, mask = pictures(), hole_middle()
    res = ip.inpaint(FakePrior(), images, mask, candidates=2, seed=1, steps=5, resample=3)
    assert res.images.shape == (3, 2, SIZE, SIZE, 1) and "RePaint (DDIM, 5 steps, 3 resamples" in res.method
    assert (res.images[:, :, ~mask] == images[:, None][:, :, ~mask]).all()        # True = fill, False = keep
    assert (np.abs(res.images[:, :, mask].astype(int) - GREY) <= 1).all()         # the prior's only image
    again = ip.inpaint(FakePrior(), images, mask, candidates=2, seed=1, steps=5, resample=3)
    np.testing.assert_array_equal(res.images, again.images)


def test_ilvr_upscales_consistently_with_the_small_input():
    small = up.shrink(pictures(2), 4)
    res = up.upscale(FakePrior(), small, steps=5)
    assert res.images.shape == (2, SIZE, SIZE, 1) and "ILVR" in res.method
    assert psnr(up.shrink(res.images, 4), small) > 30


def test_denoising_starts_at_the_matching_level_and_removes_the_noise():
    clean = np.full((2, SIZE, SIZE, 1), GREY, np.uint8)
    noisy = dn.add_noise(clean, 30.0, seed=1)
    prior = FakePrior()
    res = dn.denoise(prior, noisy, sigma=30.0, steps=10)
    assert "matching noise level" in res.method and psnr(res.images, clean) > psnr(noisy, clean) + 10
    steps = [dn.matching_step(prior, s) for s in (5, 30, 90)]
    assert steps == sorted(steps) and steps[0] < steps[-1]
    assert (dn.denoise(prior, noisy, sigma=0.0).images == noisy).all()            # no noise: the image itself


def test_the_denoising_error_is_zero_on_the_data_and_the_unit_follows_the_space():
    data = np.full((1, SIZE, SIZE, 1), GREY, np.uint8)
    res = sc.score(FakePrior(), np.concatenate([data, pictures(2)]))
    assert res.scores[0] < 1e-6 < res.scores[1:].min() and res.unit == "MSE" and "denoising" in res.method
    latent = sc.score(FakeLatentPrior(), pictures(2))
    assert "latent space" in latent.method and latent.unit == "MSE (normalised latents)"


def test_a_latent_prior_cannot_work_on_pixels():
    for tool, call in (("inpaint", lambda e: ip.inpaint(e, pictures(1), hole_last())),
                       ("upscale", lambda e: up.upscale(e, up.shrink(pictures(1), 4)))):
        with pytest.raises(ToolError, match=f"cannot {tool}"):
            call(FakeLatentPrior())


def test_a_prior_pipeline_stops_when_asked():
    def stop(done, total):
        raise Cancelled()
    with pytest.raises(Cancelled):
        ip.inpaint(FakePrior(), pictures(1), hole_last(), steps=5, progress=stop)


# --- the autoregressive model: exact or Gibbs, and the class of the known pixels ------------------------------

def test_autoregressive_inpainting_is_exact_in_raster_order_else_gibbs():
    model, images = FakeAutoregressive(), FakeAutoregressive().to_images(FakeAutoregressive().to_sequence(pictures()))
    seen = []
    exact = ip.inpaint(model, images, hole_last(), candidates=2, seed=3, progress=lambda d, t: seen.append((d, t)))
    assert "exact" in exact.method and seen[-1] == (SIZE, SIZE)
    gibbs = ip.inpaint(model, images, hole_middle(), seed=3, sweeps=2)
    assert "2 Gibbs sweeps" in gibbs.method
    for res, mask in ((exact, hole_last()), (gibbs, hole_middle())):
        assert (res.images[:, :, ~mask] == images[:, None][:, :, ~mask]).all()
    np.testing.assert_array_equal(gibbs.images, ip.inpaint(model, images, hole_middle(), seed=3, sweeps=2).images)


def test_a_conditional_model_fills_with_the_class_the_known_pixels_show():
    bright = np.full((1, SIZE, SIZE, 1), 255, np.uint8)
    bright[0, 4:] = 0                                                   # the hole holds dark pixels: not used
    res = ip.inpaint(FakeAutoregressive(classes=2), bright, hole_last(), seed=0)
    assert res.images[0, 0][hole_last()].mean() > 150                 # class 1 (bright) was chosen
    asked = ip.inpaint(FakeAutoregressive(classes=2), bright, hole_last(), seed=0, labels=np.array([0]))
    assert asked.images[0, 0][hole_last()].mean() < 100                # the class asked for wins


# --- the latent renderer, the reconstructor, the energy ---------------------------------------------------------

def test_latent_fitting_inpaints_and_upscales():
    model, images = FakeAutoencoder(), pictures(2)
    res = ip.inpaint(model, images, hole_middle(), candidates=2, steps=5)
    assert "latent optimisation" in res.method and (res.images[:, :, ~hole_middle()] == images[:, None][:, :, ~hole_middle()]).all()
    assert up.upscale(model, up.shrink(images, 4), steps=5).images.shape == (2, SIZE, SIZE, 1)
    scored = sc.score(model, images, projection_steps=5)
    assert "reconstruction" in scored.method and (scored.scores == 0).all()   # the reconstructor comes first


def test_projection_error_ranks_what_the_renderer_can_draw():
    model = FakeRenderer()
    drawable = (model.render_u(torch.randn(1, 4, generator=torch.Generator().manual_seed(4))).detach() + 1) * 127.5
    drawable = drawable.round().clamp(0, 255).permute(0, 2, 3, 1).to(torch.uint8).numpy()
    res = sc.score(model, np.concatenate([drawable, pictures(1)]), projection_steps=60)
    assert "projection" in res.method and res.scores[0] < res.scores[1]


def test_energy_pipelines_clamp_and_descend():
    model, images = FakeEnergy(), pictures(2)
    res = ip.inpaint(model, images, hole_middle(), steps=20)
    assert "Langevin" in res.method and (res.images[:, 0][:, ~hole_middle()] == images[:, ~hole_middle()]).all()
    assert (np.abs(res.images[:, 0][:, hole_middle()].astype(int) - GREY) <= 1).all()
    den = dn.denoise(model, dn.add_noise(np.full((1, SIZE, SIZE, 1), GREY, np.uint8), 20.0), steps=20)
    assert "Langevin" in den.method and (np.abs(den.images.astype(int) - GREY) <= 1).all()
    assert sc.score(model, images).unit == "energy"


def test_reconstructor_denoises_by_encode_decode():
    res = dn.denoise(FakeAutoencoder(), pictures(1), sigma=10.0)
    assert res.method == "encode-decode (identity)" and (res.images == pictures(1)).all()


# --- typed options: the command line's flags are made from the same dataclasses as the studio's forms ----------

def test_tool_flags_come_from_the_typed_options(tmp_path, capsys):
    import argparse

    from engines.cli import build_parser, main
    from engines.config import field_infos
    from engines.tools.options import OPTIONS

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for tool, options in OPTIONS.items():
        flags = {a.dest: a for a in subs[tool]._actions}
        for info in field_infos(options):
            assert info.name in flags, (tool, info.name)
            assert info.help in flags[info.name].help
            if info.name != "n_per_class":   # required on the command line
                assert flags[info.name].default == info.default
    assert main(["inpaint", str(tmp_path), "--images", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--box", "0,0,2,2", "--candidates", "17"]) == 2
    assert "--candidates must be at most 16" in capsys.readouterr().err
