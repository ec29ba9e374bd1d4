"""The ddpm engine: learning a single image, sampling options, guidance, the denoising path,
inversion, inpainting and the command line. Tiny U-Nets on 8 px images keep it fast."""

import numpy as np
import pytest
import torch

from engines.cli import main as cli_main
from engines.config import ConfigError, replace_checked
from engines.data import ImageDataset
from engines.families.base import Batch, Cancelled, DataSpec
from engines.families.ddpm import DDPMConfig, DDPMEngine
from engines.train.loop import Trainer, TrainSettings

TINY = dict(base_channels=16, channel_mults="1,2", attention_resolution=4, dropout=0.0, timesteps=100,
            sample_steps=10, lr=3e-3, lr_warmup=5, ema_decay=0.9)


def make(size=8, channels=1, classes=0, **changes):
    config = replace_checked(DDPMConfig(), **{**TINY, **changes})
    torch.manual_seed(0)
    return DDPMEngine(config, DataSpec(size, channels, classes, tuple(f"c{i}" for i in range(classes))))


def ring(size=8) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2)
    return (np.clip(1 - abs(r - size / 4) / 1.5, 0, 1) * 255).astype(np.uint8)[..., None]


def batch_of(image: np.ndarray, n: int, label: int = 0) -> Batch:
    x = torch.from_numpy(np.repeat(image[None], n, 0)).permute(0, 3, 1, 2).contiguous()
    return Batch(x, torch.full((n,), label, dtype=torch.long))


@pytest.fixture(scope="module")
def learned():
    """A model trained for a few dozen steps on one repeated image."""
    engine = make(prediction="v")
    image = ring()
    torch.manual_seed(0)
    for _ in range(60):
        engine.train_step(batch_of(image, 16))
    return engine, image


def test_single_repeated_image_is_reproduced(learned):
    engine, image = learned
    fresh = make(prediction="v")
    samples = engine.sample(4, seed=0).astype(float)
    err = np.abs(samples - image[None]).mean()
    err_untrained = np.abs(fresh.sample(4, seed=0).astype(float) - image[None]).mean()
    assert err < 20 and err < err_untrained / 4, (err, err_untrained)
    engine.set_sampling_options(sampler="ancestral", steps="50")
    try:
        assert np.abs(engine.sample(4, seed=0).astype(float) - image[None]).mean() < 25
    finally:
        engine.set_sampling_options(sampler="ddim", steps="10")


def test_inversion_then_decoding_reconstructs_for_the_trained_model(learned):
    engine, image = learned
    noise = engine.encode(image[None])
    assert noise.shape == (1, 1, 8, 8)
    back = engine.decode(noise)
    assert np.abs(back.astype(float) - image[None]).mean() < 12
    np.testing.assert_array_equal(engine.decode(engine.random_latents(2, 3)), engine.decode(engine.random_latents(2, 3)))


@pytest.mark.parametrize("sampler", ["ddim", "ancestral"])
def test_sampling_is_deterministic_per_seed_and_reports_progress(sampler):
    engine = make(channels=3)
    engine.set_sampling_options(sampler=sampler, steps="6", eta="0.5")
    seen = []
    a = engine.sample(3, seed=1, progress=lambda d, n: seen.append((d, n)))
    state = torch.get_rng_state()
    b = engine.sample(3, seed=1)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left alone
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 8, 8, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, engine.sample(3, seed=2))
    assert seen == [(i, 6) for i in range(1, 7)]


def test_progress_can_cancel_sampling():
    engine = make()
    calls = []

    def stop_at_two(done, total):
        calls.append(done)
        if done == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        engine.sample(2, seed=0, progress=stop_at_two)
    assert calls == [1, 2]


def test_sampling_options_are_validated():
    with pytest.raises(ConfigError, match="'guidance' does not apply to this ddpm run: it acts only on class-cond"):
        make().set_sampling_options(guidance="3")  # no classes: said, not ignored
    engine = make(classes=2)
    for bad, word in [({"sampler": "euler"}, "sampler"), ({"steps": "0"}, "steps"), ({"steps": "many"}, "steps"),
                      ({"steps": "101"}, "steps"), ({"eta": "2"}, "eta"), ({"guidance": "nan"}, "guidance"),
                      ({"temperature": "1"}, "temperature"), ({"ema": "maybe"}, "ema")]:
        with pytest.raises(ConfigError, match=word):
            engine.set_sampling_options(**bad)
    engine.set_sampling_options(sampler=" Ancestral ", steps="7", eta="0.3", guidance="3", ema="false")
    o = engine.options
    assert (o.sampler, o.steps, o.eta, o.guidance, o.ema) == ("ancestral", 7, 0.3, 3.0, False)


def test_guidance_mixes_conditional_and_unconditional_predictions():
    engine = make(classes=3)
    assert engine.conditional
    torch.manual_seed(1)
    for p in engine.ema.network.parameters():  # zero-initialised layers would hide the labels
        p.data.add_(0.05 * torch.randn_like(p))
    labels = torch.tensor([0, 2])
    x = torch.randn(2, 1, 8, 8)
    t = torch.full((2,), 40)
    net = engine.ema.network
    cond, uncond = net(x, t, labels), net(x, t, torch.full_like(labels, 3))
    assert not torch.allclose(cond, uncond)
    torch.testing.assert_close(engine._denoiser(labels, guidance=1.0)(x, 40), cond)
    torch.testing.assert_close(engine._denoiser(labels, guidance=3.0)(x, 40), uncond + 3 * (cond - uncond),
                               rtol=1e-4, atol=1e-5)
    engine.set_sampling_options(guidance="1")
    g1 = engine.sample(2, seed=0, labels=np.array([0, 2]))
    engine.set_sampling_options(guidance="1.0")
    np.testing.assert_array_equal(g1, engine.sample(2, seed=0, labels=np.array([0, 2])))
    engine.set_sampling_options(guidance="4")
    assert not np.array_equal(g1, engine.sample(2, seed=0, labels=np.array([0, 2])))


def test_conditioning_follows_the_data_and_the_setting():
    assert not make(classes=0).conditional
    assert not make(classes=3, conditional=False).conditional
    engine = make(classes=3)
    with pytest.raises(ValueError, match="labels"):
        engine.sample(2, seed=0, labels=np.array([0, 5]))


def test_denoising_path_ends_at_the_sample():
    engine = make()
    frames, timesteps = engine.sample_path(2, seed=4, keep_steps=4)
    assert frames.shape == (4, 2, 8, 8, 1) and frames.dtype == np.uint8
    assert timesteps[0] == 99 and timesteps[-1] == -1
    np.testing.assert_array_equal(frames[-1], engine.sample(2, seed=4))
    times = engine.sampling_times((2, 4), n=1)
    assert [s for s, _ in times] == [2, 4] and all(t > 0 for _, t in times)


def test_inpainting_keeps_the_known_pixels(learned):
    engine, image = learned
    known = np.zeros((8, 8), bool)
    known[:, :4] = True
    source = np.full((2, 8, 8, 1), 77, np.uint8)
    from engines.tools import inpaint as tool   # the prior role's RePaint (mask: True = fill)

    out = tool.inpaint(engine, source, ~known, seed=0, resample=1).images[:, 0]
    np.testing.assert_array_equal(out[:, :, :4], source[:, :, :4])
    np.testing.assert_array_equal(out, tool.inpaint(engine, source, ~known, seed=0, resample=1).images[:, 0])
    with pytest.raises(ValueError, match="mask"):
        tool.inpaint(engine, source, np.ones((4, 4), bool), seed=0)


def test_patch_size_must_divide_the_image():
    with pytest.raises(ConfigError, match="patch_size"):
        make(size=10, patch_size=4)
    assert make(size=16, patch_size=2).sample(1, seed=0).shape == (1, 16, 16, 1)


def test_cli_sample_routes_options_and_labels(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = ImageDataset(rng.integers(0, 255, (12, 8, 8, 1), dtype=np.uint8), np.arange(12) % 2, ["a", "b"],
                        sources=["<test>"])
    config = replace_checked(DDPMConfig(), **TINY)
    settings = TrainSettings(steps=2, batch_size=4, sample_every=0, checkpoint_every=0, n_samples=2,
                             validate_every=0, monitor_every=0)
    list(Trainer.new("ddpm", config, settings, data, tmp_path / "run").run())
    out = tmp_path / "out"
    rc = cli_main(["sample", str(tmp_path / "run"), "--n", "2", "--out", str(out), "--label", "b",
                   "--set", "sampler=ancestral", "--set", "steps=3", "--set", "guidance=2"])
    assert rc == 0 and len(list(out.glob("*.png"))) == 2
    rc = cli_main(["sample", str(tmp_path / "run"), "--n", "2", "--out", str(out), "--force", "--set", "sampler=euler"])
    assert rc == 2 and "sampler must be one of" in capsys.readouterr().err


def test_training_grids_are_cheap_previews_announced_by_a_phase_event():
    """The loop announces each sample grid (Phase, with the last grid's duration) and ddpm draws it
    with DDIM at preview_steps, leaving the person's sampling options alone."""
    rng = np.random.default_rng(0)
    data = ImageDataset(rng.integers(0, 255, (12, 8, 8, 1), dtype=np.uint8), np.zeros(12, np.int64), [],
                        sources=["<test>"])
    config = replace_checked(DDPMConfig(), **{**TINY, "sample_steps": 10, "preview_steps": 3,
                                              "sampler": "ancestral"})
    settings = TrainSettings(steps=4, batch_size=4, sample_every=2, checkpoint_every=0, n_samples=2,
                             validate_every=0, monitor_every=0, log_every=2)
    trainer = Trainer.new("ddpm", config, settings, data, None)
    events = list(trainer.run())
    kinds = [type(e).__name__ for e in events]
    samples = [i for i, k in enumerate(kinds) if k == "Samples"]
    assert len(samples) == 3 and all(kinds[i - 1] == "Phase" for i in samples)
    phases = [events[i - 1] for i in samples]
    assert phases[0].expected_s is None and all(p.expected_s > 0 for p in phases[1:])
    assert phases[0].phase == "sampling" and "2 sample images" in phases[0].message

    engine = trainer.engine
    steps_seen = []
    engine.sample(1, seed=0, progress=lambda done, total: steps_seen.append(total))
    assert steps_seen[-1] == 10 and engine.options.sampler == "ancestral"  # untouched by the previews
    engine.set_sampling_options(sampler="ddim", steps="3")
    np.testing.assert_array_equal(events[samples[-1]].images, engine.sample(2, seed=settings.seed + 1_000_003))
