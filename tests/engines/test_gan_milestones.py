"""The GAN milestones: ProGAN's growth and mid-fade resume, BigGAN's class conditioning and
truncation, StyleGAN's truncation, W/Z latents and style-mixing grid."""

import json

import numpy as np
import pytest
import torch

from engines import registry
from engines.config import ConfigError, replace_checked
from engines.families.base import Batch, DataSpec
from engines.train import events as ev
from engines.train.checkpoint import latest_checkpoint, load_checkpoint
from engines.train.loop import Control, Trainer, TrainSettings
from tests.helpers import tiny_dataset
from tests.engines.family_cases import SMALL_CONFIG
from tests.engines.test_family_contract import _assert_same_state


def make_engine(name, size=16, channels=1, classes=0, **changes):
    family = registry.get(name)
    config = replace_checked(family.preset(family.config_class(), size), **{**SMALL_CONFIG[name], **changes})
    names = tuple(f"class{i}" for i in range(classes))
    return family.engine_class(config, DataSpec(size, channels, classes, names), "cpu")


def batch_of(n=8, size=16, channels=1, classes=0):
    data = tiny_dataset(n=n, size=size, channels=channels, classes=classes)
    return Batch(torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(data.labels))


def _step(engine, batch, i):
    try:
        return engine.train_step(batch, i, 100)
    except TypeError:  # a loop that does not pass the step yet
        return engine.train_step(batch)


# --- ProGAN ----------------------------------------------------------------------------------------

def test_progan_schedule_grows_with_fades():
    from engines.families.progan import schedule

    assert [schedule(s, 10, 2) for s in (0, 9)] == [(0, 1.0), (0, 1.0)]
    assert schedule(10, 10, 2) == (1, 0.0) and schedule(15, 10, 2) == (1, 0.5)
    assert schedule(20, 10, 2) == (1, 1.0) and schedule(30, 10, 2) == (2, 0.0)
    assert schedule(40, 10, 2) == (2, 1.0) and schedule(10_000, 10, 2) == (2, 1.0)
    assert schedule(50, 10, 0) == (0, 1.0)


def test_progan_trains_at_each_resolution_and_samples_at_the_run_size():
    torch.manual_seed(0)
    engine = make_engine("progan", phase_steps=2)
    batch = batch_of()
    seen = []
    for i in range(10):
        _step(engine, batch, i)
        metrics, _ = engine.monitor(i + 1)
        seen.append((metrics["resolution"], metrics["fade_alpha"]))
        assert engine.sample(2, seed=0).shape == (2, 16, 16, 1)
    assert seen[0] == (4.0, 1.0) and (8.0, 0.5) in seen and (16.0, 0.5) in seen and seen[-1] == (16.0, 1.0)
    # at 4x4 the sample is a 4x4 image enlarged: blocks of 4x4 equal pixels
    fresh = make_engine("progan", phase_steps=2)
    img = fresh.sample(1, seed=1)[0, :, :, 0]
    assert (img == np.kron(img[::4, ::4], np.ones((4, 4), np.uint8))).all()


def test_progan_resumes_exactly_in_the_middle_of_a_fade(tmp_path):
    data = tiny_dataset(n=20, size=16, channels=1)
    config = replace_checked(registry.get("progan").config_class(), **SMALL_CONFIG["progan"], phase_steps=4)
    settings = TrainSettings(steps=12, batch_size=4, log_every=1, sample_every=0, checkpoint_every=0,
                             n_samples=4, monitor_every=1, val_fraction=0.0)
    straight = Trainer.new("progan", config, settings, data, tmp_path / "a")
    list(straight.run())
    control = Control()
    first = Trainer.new("progan", config, settings, data, tmp_path / "b")
    real_step = first.engine.train_step

    def step_then_stop(batch, *args):
        if first.step == 5:  # steps 4..7 fade 4 -> 8 px: stop with alpha 0.5
            control.request_stop()
        return real_step(batch, *args)

    first.engine.train_step = step_then_stop
    events = list(first.run(control))
    assert isinstance(events[-1], ev.Finished) and events[-1].step == 6
    assert first.engine.growth() == (1, 0.5)
    resumed = Trainer.resume(tmp_path / "b", data)
    assert resumed.engine.growth() == (1, 0.5)
    list(resumed.run())

    def rows(p):
        return [json.loads(line) for line in (p / "metrics.jsonl").read_text().splitlines()]

    a, b = rows(tmp_path / "a"), rows(tmp_path / "b")
    assert [(r["step"], r["losses"], r.get("metrics")) for r in b] == [(r["step"], r["losses"], r.get("metrics")) for r in a]
    resolutions = [r["metrics"]["resolution"] for r in a if "resolution" in r.get("metrics", {})]
    assert resolutions[0] == 4.0 and resolutions[-1] == 16.0
    _assert_same_state(load_checkpoint(latest_checkpoint(tmp_path / "a"))[0]["engine"],
                       load_checkpoint(latest_checkpoint(tmp_path / "b"))[0]["engine"])
    np.testing.assert_array_equal(straight.engine.sample(3, seed=9), resumed.engine.sample(3, seed=9))


# --- BigGAN ----------------------------------------------------------------------------------------

def _spread(images):
    x = images.reshape(len(images), -1).astype(np.float64)
    return float(np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1)).mean())


def test_biggan_class_conditioning_reaches_the_generator_and_the_discriminator():
    torch.manual_seed(0)
    engine = make_engine("biggan", classes=3)
    assert engine.conditional and engine.G.shared is not None
    losses = _step(engine, batch_of(classes=3), 0)
    assert {"d_loss", "g_loss"} <= set(losses) and all(np.isfinite(v) for v in losses.values())
    metrics, findings = engine.monitor(1)
    assert "ortho_penalty" in metrics and metrics["ortho_penalty"] > 0 and not findings
    z = engine.random_latents(3, seed=1)
    a = engine.decode(z, labels=torch.tensor([0, 0, 0]))
    b = engine.decode(z, labels=torch.tensor([1, 1, 1]))
    assert not np.array_equal(a, b)
    # one-hot class weights are exactly the hard labels; a half-half mix is neither
    np.testing.assert_array_equal(engine.decode(z, labels=torch.eye(3)[[1, 1, 1]]), b)
    mix = engine.decode(z, labels=torch.tensor([[0.5, 0.5, 0.0]] * 3))
    assert not np.array_equal(mix, a) and not np.array_equal(mix, b)
    x = batch_of(n=4, classes=3).float()
    assert not torch.equal(engine.D(x, torch.zeros(4, dtype=torch.long)), engine.D(x, torch.ones(4, dtype=torch.long)))
    # per-class sampling
    engine.set_sampling_options(label="class2")
    assert engine.decode_label == 2


def test_biggan_on_unlabelled_data_trains_unconditionally_and_says_so():
    engine = make_engine("biggan", classes=0)
    assert not engine.conditional and engine.G.shared is None
    _step(engine, batch_of(), 0)
    _, findings = engine.monitor(1)
    assert [f.kind for f in findings] == ["unconditional"] and "subfolder" in findings[0].message
    assert engine.monitor(2)[1] == []  # said once
    with pytest.raises(ConfigError, match="label"):
        engine.set_sampling_options(label="class0")


def test_biggan_truncation_one_is_plain_sampling_and_lower_values_reduce_variety():
    from engines.families.biggan import truncated_normal

    torch.manual_seed(0)
    engine = make_engine("biggan")
    plain = engine.sample(16, seed=3)
    gen = torch.Generator().manual_seed(3)
    torch.testing.assert_close(engine.random_latents(4, seed=3), torch.randn(4, engine.config.latent_dim, generator=gen))
    engine.set_sampling_options(truncation="1")
    np.testing.assert_array_equal(engine.sample(16, seed=3), plain)
    engine.set_sampling_options(truncation="0.2")
    z = engine.random_latents(16, seed=3)
    assert z.abs().max() <= 0.4
    np.testing.assert_array_equal(engine.sample(16, seed=3), engine.sample(16, seed=3))
    assert _spread(engine.sample(16, seed=3)) < _spread(plain)
    assert truncated_normal(1000, 4, 0.5, torch.Generator().manual_seed(0)).abs().max() <= 1.0
    for bad in ("0", "1.5", "x"):
        with pytest.raises(ConfigError, match="truncation"):
            engine.set_sampling_options(truncation=bad)


# --- StyleGAN --------------------------------------------------------------------------------------

def test_stylegan_trains_with_lazy_r1_style_mixing_and_tracks_the_mean_w():
    torch.manual_seed(0)
    engine = make_engine("stylegan", r1_every=3, pl_weight=1.0)
    batch = batch_of()
    r1_seen = []
    for i in range(4):
        losses = _step(engine, batch, i)
        assert {"d_loss", "g_loss"} <= set(losses) and all(np.isfinite(v) for v in losses.values())
        r1_seen.append(engine._state["r1"])
    # R1 is taken at steps 0 and 3 only (lazy): the value changes on those steps alone
    assert r1_seen[0] > 0 and r1_seen[0] == r1_seen[1] == r1_seen[2] != r1_seen[3]
    metrics, _ = engine.monitor(4)
    assert {"r1_penalty", "path_length", "diversity_vs_data"} <= set(metrics)
    assert engine.G.w_avg.abs().sum() > 0 and torch.equal(engine.G_ema.w_avg, engine.G.w_avg)
    # the mapping net learns 100x slower: its parameters carry a 0.01 multiplier
    assert engine.G.mapping.layers[0].lr_mul == pytest.approx(0.01)


def test_stylegan_recipe_downsamples_first_and_older_runs_keep_their_discriminator_layout():
    from engines.config import from_dict, to_dict
    from engines.families.stylegan import StyleGANConfig

    assert registry.default_config("stylegan", 28).d_downsample_first
    assert registry.default_config("stylegan", 64).d_downsample_first
    assert registry.default_config("stylegan", 28).g_upsample_last and not registry.default_config("stylegan", 64).g_upsample_last
    old = {k: v for k, v in to_dict(registry.default_config("stylegan", 28)).items()
           if k not in ("d_downsample_first", "g_upsample_last")}
    was_config = from_dict(StyleGANConfig, old)                  # a run saved before the options resumes as it was
    assert not was_config.d_downsample_first and not was_config.g_upsample_last
    x = torch.randn(4, 1, 16, 16)
    new, was = make_engine("stylegan"), make_engine("stylegan", d_downsample_first=False)
    was.D.load_state_dict(new.D.state_dict())                     # the same weights in either layout
    assert new.D(x).shape == was.D(x).shape == (4,) and not torch.allclose(new.D(x), was.D(x))
    # G's upsampling conv may run after the map is doubled instead (the same weights, the paper's order)
    late = make_engine("stylegan", g_upsample_last=False)
    late.G.load_state_dict(new.G.state_dict())
    ws = new.G.broadcast(new.G.mapping(torch.randn(2, 8)))
    assert late.G.synthesis(ws).shape == new.G.synthesis(ws).shape == (2, 1, 16, 16)


def test_stylegan_latents_live_in_w_or_z_and_truncation_pulls_towards_the_mean():
    torch.manual_seed(0)
    engine = make_engine("stylegan")
    for i in range(2):
        _step(engine, batch_of(), i)
    w = engine.random_latents(4, seed=2)
    engine.set_sampling_options(space="z")
    z = engine.random_latents(4, seed=2)
    assert not torch.equal(w, z)
    np.testing.assert_array_equal(engine.decode(z), engine.sample(4, seed=2))
    engine.set_sampling_options(space="w")
    np.testing.assert_array_equal(engine.decode(w), engine.sample(4, seed=2))
    plain = engine.sample(16, seed=4)
    engine.set_sampling_options(truncation="1")
    np.testing.assert_array_equal(engine.sample(16, seed=4), plain)
    engine.set_sampling_options(truncation="0.3")
    assert _spread(engine.sample(16, seed=4)) < _spread(plain)
    engine.set_sampling_options(truncation="0.0001")  # everything at the mean w: (nearly) one image
    tight = engine.sample(4, seed=4).astype(int)
    assert np.abs(tight - tight[:1]).max() <= 1
    with pytest.raises(ConfigError, match="space"):
        engine.set_sampling_options(space="q")


def test_stylegan_style_mixing_grid_rows_share_the_chosen_styles():
    from engines.nn.stylegan_nets import style_levels

    torch.manual_seed(0)
    engine = make_engine("stylegan", size=16)
    assert style_levels([4, 8, 16], [0, 1, 1, 2, 2]) == {"coarse": [0], "middle": [1, 2], "fine": [3, 4]}
    assert style_levels([4, 8, 16, 32], [0, 1, 1, 2, 2, 3, 3])["coarse"] == [0, 1, 2]
    grid = engine.style_mix([1, 2], [3, 4, 5], "coarse")
    assert grid.shape == (3, 4, 16, 16, 1)
    assert (grid[0, 0] == 255).all()
    # sources are the seeds' plain images
    for j, seed in enumerate([3, 4, 5]):
        np.testing.assert_array_equal(grid[0, j + 1], engine.sample(1, seed)[0])
    for i, seed in enumerate([1, 2]):
        np.testing.assert_array_equal(grid[i + 1, 0], engine.sample(1, seed)[0])
    # cell (i, j): column j's styles with row i's coarse ones, which every cell of row i shares
    g = engine.G_ema
    def w_of(seed):
        return g.mapping(torch.randn(1, engine.config.latent_dim, generator=torch.Generator().manual_seed(seed)))
    with torch.no_grad():
        ws = g.broadcast(w_of(4)).clone()
        ws[:, engine.levels["coarse"]] = g.broadcast(w_of(2))[:, engine.levels["coarse"]]
        g.eval()
        expected = ((g.synthesis(ws).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(grid[2, 2], expected[0])
    # taking a row's own seed as the column gives that seed's image back
    same = engine.style_mix([7], [7, 8], "fine")
    np.testing.assert_array_equal(same[1, 1], same[1, 0])
    assert not np.array_equal(same[1, 2], same[0, 2])
    with pytest.raises(ConfigError, match="level"):
        engine.style_mix([1], [2], "all")


# --- recipes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["progan", "biggan", "stylegan"])
def test_cpu_recipes_up_to_32_px_and_a_wider_gpu_preset_at_64(name):
    family = registry.get(name)
    small, large = family.preset(family.config_class(), 32), family.preset(family.config_class(), 64)
    # the CPU recipe is the config's defaults (StyleGAN's also turns on D's downsample-first layout, whose
    # default stays off for runs saved before it)
    own = {"d_downsample_first": True, "g_upsample_last": True} if name == "stylegan" else {}
    assert small == replace_checked(family.config_class(), **own) and large != small
    # the CPU recipes train on small batches (BigGAN 16, the others 32)
    assert registry.default_settings(name, 16, TrainSettings()).batch_size == (16 if name == "biggan" else 32)
    assert registry.default_settings(name, 64, TrainSettings()).batch_size == TrainSettings().batch_size
    width = "g_width" if name == "biggan" else "width"
    assert getattr(large, width) > getattr(small, width) or large.latent_dim > small.latent_dim
    torch.manual_seed(0)
    engine = family.engine_class(large, DataSpec(64, 3, 0, ()), "cpu")
    assert engine.sample(1, seed=0).shape == (1, 64, 64, 3)


@pytest.mark.parametrize("name, classes", [("progan", 0), ("biggan", 3), ("stylegan", 0)])
def test_the_exported_generator_samples_like_the_engine(tmp_path, name, classes):
    from engines.network_export import export_onnx, export_pt2, image_network, run_onnx

    torch.manual_seed(0)
    engine = make_engine(name, classes=classes, **({"phase_steps": 1} if name == "progan" else {}))
    batch = batch_of(classes=classes)
    for i in range(2):  # ProGAN: past its first phase, so the export is mid-growth (8 px, fading)
        _step(engine, batch, i)
    if name == "stylegan":
        engine.set_sampling_options(truncation=0.7)
    net = image_network(engine)
    assert ("labels" in net.inputs) == (classes > 0)
    z = engine.random_latents(3, seed=4) if name != "stylegan" else \
        torch.randn(3, engine.config.latent_dim, generator=torch.Generator().manual_seed(4))
    inputs = [z] + ([torch.tensor([0, 1, 2])] if classes else [])
    with torch.no_grad():
        images = net.module(*inputs)
    expected = engine.sample(3, seed=4, labels=np.array([0, 1, 2]) if classes else None)
    got = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    if name != "stylegan":  # writing the files takes a while: the most intricate generator stands for all
        return
    program = torch.export.load(str(export_pt2(net, tmp_path / "g.pt2")))
    np.testing.assert_allclose(program.module()(*inputs).numpy(), images.numpy(), rtol=1e-5, atol=1e-5)
    pytest.importorskip("onnxruntime")
    onnx_path = export_onnx(net, tmp_path / "g.onnx")
    got_onnx = run_onnx(onnx_path, {k: v.numpy() for k, v in zip(net.inputs, inputs)})
    np.testing.assert_allclose(got_onnx, images.numpy(), rtol=1e-4, atol=1e-4)
