"""VAE / β-VAE / cVAE / autoencoder behaviour beyond the family contract."""

import numpy as np
import pytest
import torch

from engines import registry
from engines.config import replace_checked
from engines.families.ae import CodeGaussian
from engines.families.base import Batch, DataSpec
from engines.families.vae import choose_likelihood
from engines.train import events as ev
from engines.train.loop import Trainer, TrainSettings
from engines.train.restore import load_engine
from tests.helpers import tiny_dataset

FAST = TrainSettings(steps=150, batch_size=16, log_every=50, sample_every=0, checkpoint_every=0,
                     validate_every=0, monitor_every=0, val_fraction=0.1)


def make(name, size=16, channels=1, classes=0, **changes):
    family = registry.get(name)
    config = replace_checked(family.preset(family.config_class(), size), latent_dim=8, width=8, **changes)
    return family.engine_class(config, DataSpec(size, channels, classes, tuple(f"c{i}" for i in range(classes))))


def batch_of(data, n=None):
    x = torch.from_numpy(data.images[:n]).permute(0, 3, 1, 2).contiguous()
    return Batch(x, torch.from_numpy(data.labels[:n]))


def trained(tmp_path, name, data, steps=150, **changes):
    family = registry.get(name)
    config = replace_checked(family.preset(family.config_class(), data.size), latent_dim=8, width=8,
                             **changes)
    trainer = Trainer.new(name, config, replace_checked(FAST, steps=steps), data, tmp_path / name)
    events = list(trainer.run())
    assert not [e for e in events if isinstance(e, ev.Failed)]
    return trainer, events


@pytest.mark.parametrize("name", ["vae", "ae"])
def test_encode_decode_round_trip_approximates_training_images(tmp_path, name):
    data = tiny_dataset(n=48, size=16)
    trainer, _ = trained(tmp_path, name, data, steps=250, **({"kl_warmup_steps": 50} if name == "vae" else {}))
    engine = trainer.engine
    images = trainer.train_data.images[:16]
    latents = engine.encode(images)
    assert latents.shape == (16, 8)
    back = engine.decode(latents)
    assert back.shape == images.shape and back.dtype == np.uint8
    error = np.abs(back.astype(float) - images).mean()
    mismatched = np.abs(back.astype(float) - np.roll(images, 1, axis=0)).mean()
    assert error < 0.5 * mismatched and error < 20, (error, mismatched)


def test_code_gaussian_recovers_the_distribution_of_the_codes():
    torch.manual_seed(0)
    mean = torch.tensor([2.0, -1.0, 0.5])
    mix = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [0.0, -0.3, 0.2]])
    fit = CodeGaussian(3, decay=0.99)
    for _ in range(400):
        fit.update(mean + torch.randn(64, 3) @ mix.T)
    drawn = fit.draw(20000, torch.Generator().manual_seed(0)).double()
    assert torch.allclose(drawn.mean(0), mean.double(), atol=0.05)
    assert torch.allclose(torch.cov(drawn.T), (mix @ mix.T).double(), atol=0.05)


def test_autoencoder_generates_from_its_code_fit_and_keeps_it_in_checkpoints(tmp_path):
    data = tiny_dataset(n=48, size=16)
    trainer, _ = trained(tmp_path, "ae", data, steps=60, code_stats_decay=0.8)
    engine = trainer.engine
    codes = engine.encode(trainer.train_data.images).double()
    drawn = engine.random_latents(4000, seed=1).double()
    spread = codes.std(0).mean()
    # the fit weights recent codes while the encoder still moves, so agreement is close, not exact
    assert (drawn.mean(0) - codes.mean(0)).abs().max() < 0.5 * spread
    reloaded, _ = load_engine(tmp_path / "ae")
    assert torch.equal(reloaded.random_latents(5, seed=3), engine.random_latents(5, seed=3))
    assert "Gaussian fitted" in registry.get("ae").description


def test_likelihood_auto_is_decided_from_the_data_and_recorded(tmp_path):
    binary = tiny_dataset(n=20, size=16)
    binary.images[:] = np.where(binary.images > 128, 255, 0)
    assert choose_likelihood(batch_of(binary).pixels) == "bernoulli"
    assert choose_likelihood(batch_of(tiny_dataset(n=20, size=16)).pixels) == "logistic"
    rgb = tiny_dataset(n=20, size=16, channels=3)
    rgb.images[:] = np.where(rgb.images > 128, 255, 0)
    assert choose_likelihood(batch_of(rgb).pixels) == "logistic"

    trainer, _ = trained(tmp_path, "vae", binary, steps=3)
    assert trainer.engine.likelihood == "bernoulli"
    reloaded, _ = load_engine(tmp_path / "vae")
    assert reloaded.likelihood == "bernoulli"
    fixed = make("vae", likelihood="gaussian")
    fixed.train_step(batch_of(binary, 8))
    assert fixed.likelihood == "gaussian"


@pytest.mark.parametrize("likelihood", ["bernoulli", "logistic", "gaussian"])
def test_validation_reports_the_negative_elbo_in_bits_per_dim(likelihood):
    data = tiny_dataset(n=24, size=16)
    engine = make("vae", likelihood=likelihood)
    for _ in range(5):
        engine.train_step(batch_of(data, 16))
    state = torch.random.get_rng_state()
    first = engine.validate([batch_of(data, 12), Batch(batch_of(data).pixels[12:], batch_of(data).labels[12:])])
    assert torch.equal(state, torch.random.get_rng_state())  # validation never touches the global RNG
    again = engine.validate([batch_of(data)])
    assert first["bits_per_dim"] == pytest.approx(again["bits_per_dim"], rel=0.05)
    dims = 16 * 16
    assert first["bits_per_dim"] == pytest.approx((first["recon_nats"] + first["kl_nats"]) / (dims * np.log(2)))
    assert 0 < first["bits_per_dim"] < 9  # barely trained: near the 8 bits/dim of knowing nothing
    assert not registry.get("vae").engine_class.exact  # the ELBO: a bound, and `evaluate` says so
    assert "upper bound" in registry.get("vae").description


def test_kl_warmup_ramps_the_weight_to_beta():
    engine = make("vae", beta=4.0, kl_warmup_steps=10)
    data = tiny_dataset(n=16, size=16)
    weights = []
    for _ in range(12):
        weights.append(engine.kl_weight())
        engine.train_step(batch_of(data, 8))
    assert weights[0] == 0.0 and weights[5] == pytest.approx(2.0) and weights[10] == weights[11] == 4.0


def test_losses_report_reconstruction_and_kl_separately():
    engine = make("vae")
    losses = engine.train_step(batch_of(tiny_dataset(n=8, size=16)))
    assert {"recon", "kl"} <= set(losses) and losses["kl"] >= 0 and losses["recon"] > 0


def test_a_heavy_beta_collapses_the_posterior_and_monitor_says_so(tmp_path):
    data = tiny_dataset(n=32, size=16)
    engine = make("vae", beta=100.0, kl_warmup_steps=0)
    healthy = make("vae", free_bits=0.5, kl_warmup_steps=0)
    for _ in range(110):
        engine.train_step(batch_of(data, 16))
        healthy.train_step(batch_of(data, 16))
    values, findings = engine.monitor(110)
    assert values["active_units"] <= 1
    assert [f.kind for f in findings] == ["posterior-collapse"]
    assert engine.monitor(111) == ({}, [])  # nothing new since the last call
    values, findings = healthy.monitor(110)
    assert values["active_units"] >= 4 and findings == []


def test_cvae_samples_the_class_it_is_asked_for(tmp_path):
    data = tiny_dataset(n=60, size=16, classes=3)  # blob size depends on the class
    trainer, _ = trained(tmp_path, "cvae", data, steps=200)
    engine = trainer.engine
    assert engine.conditional
    per_class = [engine.sample(24, seed=0, labels=np.full(24, c)) for c in range(3)]
    brightness = [float(s.mean()) for s in per_class]
    real = [float(data.images[data.labels == c].mean()) for c in range(3)]
    assert np.argsort(brightness).tolist() == np.argsort(real).tolist(), (brightness, real)
    grid = engine.sample(6, seed=0)  # no labels: a grid of all classes in turn
    np.testing.assert_array_equal(grid[3], engine.sample(6, seed=0, labels=np.arange(6) % 3)[3])
    with pytest.raises(ValueError):
        engine.sample(2, seed=0, labels=np.array([0, 7]))
    images, labels = trainer.train_data.images[:6], trainer.train_data.labels[:6]
    with_labels, without = engine.encode(images, labels=labels), engine.encode(images)  # both usable
    assert with_labels.shape == without.shape == (6, 8) and not torch.equal(with_labels, without)
    engine.set_sampling_options(label="class2")
    np.testing.assert_array_equal(engine.decode(engine.random_latents(2, 1)),
                                  engine.decode(engine.random_latents(2, 1), labels=np.array([2, 2])))


def test_cvae_on_unlabelled_data_trains_as_a_plain_vae():
    engine = make("cvae", classes=0)
    assert not engine.conditional
    losses = engine.train_step(batch_of(tiny_dataset(n=8, size=16)))
    assert np.isfinite(losses["recon"])
    assert engine.sample(2, seed=0).shape == (2, 16, 16, 1)


@pytest.mark.parametrize("size, channels", [(28, 1), (20, 3), (64, 3)])
def test_vae_works_at_other_sizes_and_channels(size, channels):
    engine = make("vae", size=size, channels=channels, architecture="conv")
    data = tiny_dataset(n=4, size=size, channels=channels)
    assert np.isfinite(engine.train_step(batch_of(data))["recon"])
    assert engine.sample(2, seed=0).shape == (2, size, size, channels)
    mlp = make("vae", size=size, channels=channels, architecture="mlp", hidden_units=32)
    assert np.isfinite(mlp.train_step(batch_of(data))["recon"])
