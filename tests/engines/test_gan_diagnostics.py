"""Live GAN diagnostics: mode collapse, divergence, class counts, and class-conditional sampling."""

import json

import numpy as np
import torch
from torch import nn

from engines.families.base import Batch
from engines.families.gan import COLLAPSE_WARMUP
from engines.train import events as ev
from engines.train.loop import Trainer, TrainSettings
from tests.helpers import tiny_dataset
from tests.engines.family_cases import SMALL_CONFIG
from tests.engines.test_gan import batches, make_engine


class SpreadGenerator(nn.Module):
    """Output varies strongly with z (a stand-in for a healthy generator)."""

    def __init__(self, latent_dim, size):
        super().__init__()
        self.size = size
        self.proj = nn.Linear(latent_dim, size * size)
        nn.init.normal_(self.proj.weight, 0, 1.0)

    def forward(self, z, labels=None):
        return torch.tanh(self.proj(z)).view(-1, 1, self.size, self.size)


class CollapsedGenerator(nn.Module):
    """Ignores z: every sample is the same image."""

    def __init__(self, size):
        super().__init__()
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
        self.register_buffer("image", torch.exp(-(xx ** 2 + yy ** 2) * 4) * 2 - 1)

    def forward(self, z, labels=None):
        return self.image.expand(z.shape[0], 1, -1, -1)


def test_diversity_falls_on_a_collapsed_generator_and_a_rollback_is_offered():
    torch.manual_seed(0)
    engine = make_engine("dcgan", ema_decay=0.0)
    engine.train_step(batches(n=32))
    engine.G = SpreadGenerator(engine.config.latent_dim, 16)
    healthy, findings = engine.monitor(100)
    assert not findings
    assert healthy["diversity_vs_data"] > engine.config.collapse_ratio and healthy["near_duplicates"] < 0.5

    engine.G = CollapsedGenerator(16)
    collapsed, findings = engine.monitor(200)
    assert collapsed["sample_diversity"] < 0.05 * healthy["sample_diversity"]
    assert collapsed["near_duplicates"] == 1.0
    assert [(f.kind, f.rollback) for f in findings] == [("mode-collapse", True)]
    assert engine.monitor(300)[1] == []  # said once per fall, not at every check


class FewModes(nn.Module):
    """A trained generator collapsed onto k images: every z is swapped for one of k fixed latents."""

    def __init__(self, generator, k, latent_dim):
        super().__init__()
        self.generator, self.k = generator, k
        self.register_buffer("modes", torch.randn(k, latent_dim, generator=torch.Generator().manual_seed(3)))

    def forward(self, z, labels=None):
        return self.generator(self.modes[z[:, :self.k].argmax(1)], labels)


def test_a_healthy_short_run_raises_no_collapse_warning_and_its_collapsed_generator_does():
    torch.manual_seed(0)
    engine = make_engine("dcgan", size=8, lr_g=1e-3, lr_d=1e-3)
    data = tiny_dataset(n=64, size=8)
    pixels = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    order = torch.Generator().manual_seed(0)
    for _ in range(160):
        idx = torch.randperm(64, generator=order)[:32]
        engine.train_step(Batch(pixels[idx], torch.zeros(32, dtype=torch.int64)))
    healthy, findings = engine.monitor(COLLAPSE_WARMUP)  # past the warm-up: armed
    assert findings == []
    assert healthy["diversity_vs_data"] > engine.config.collapse_ratio and healthy["near_duplicates"] < 0.25

    # collapsed onto 4 modes: the diversity ratio alone barely moves, the near-duplicate share does
    engine.G = FewModes(engine.G, 4, engine.config.latent_dim)
    collapsed, findings = engine.monitor(COLLAPSE_WARMUP + 100)
    assert collapsed["near_duplicates"] == 1.0
    assert [(f.kind, f.rollback) for f in findings] == [("mode-collapse", True)]


def test_a_fresh_featureless_generator_is_not_called_collapsed_until_the_warmup_ends():
    engine = make_engine("dcgan", ema_decay=0.0)
    engine.train_step(batches(n=32))
    engine.G = CollapsedGenerator(16)
    assert engine.monitor(10)[1] == []
    assert [f.kind for f in engine.monitor(COLLAPSE_WARMUP)[1]] == ["mode-collapse"]


def test_a_discriminator_that_wins_outright_is_flagged_as_divergence():
    torch.manual_seed(0)
    # a frozen-ish generator against a fast discriminator: D(real) -> 1, D(fake) -> 0 within a few steps
    engine = make_engine("dcgan", lr_g=1e-6, lr_d=5e-3, divergence_steps=20)
    batch = batches(n=32)
    for _ in range(40):
        engine.train_step(batch)
    last = engine.interval_means()
    assert last["d_real"] > 0.9 and last["d_fake"] < 0.1
    metrics, findings = engine.monitor(40)
    assert metrics["d_saturated_steps"] >= 20
    assert [(f.kind, f.rollback) for f in findings] == [("divergence", True)]


def _dark_and_bright(n=64, size=8):
    """Class 0: dark images, class 1: bright ones, each with some texture."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    base = np.where(labels == 0, 40, 215)[:, None, None, None]
    pixels = np.clip(base + rng.normal(0, 20, (n, 1, size, size)), 0, 255).astype(np.uint8)
    return Batch(torch.from_numpy(pixels), torch.from_numpy(labels.astype(np.int64)))


def test_conditional_sampling_honours_the_requested_class_and_counts_classes():
    torch.manual_seed(0)
    engine = make_engine("cgan", size=8, classes=2, diffaugment="", lr_g=1e-3, lr_d=1e-3, ema_decay=0.9)
    batch = _dark_and_bright()
    for _ in range(150):
        engine.train_step(batch)
    dark = engine.sample(32, seed=1, labels=np.zeros(32, np.int64)).astype(float).mean(axis=(1, 2, 3))
    bright = engine.sample(32, seed=1, labels=np.ones(32, np.int64)).astype(float).mean(axis=(1, 2, 3))
    assert dark.max() < 128 < bright.min(), (dark, bright)

    metrics, _ = engine.monitor(150)
    assert metrics["class_agreement"] > 0.9
    assert metrics["classes_seen"] == 2
    assert metrics["class_count/class0"] + metrics["class_count/class1"] == 64


def test_only_losses_reach_the_loss_plot_and_the_diagnostics_go_to_metrics(tmp_path):
    """Progress events (the Losses panel's loss plot) carry D/G losses only; D(real)/D(fake) and the
    gradient norms arrive as Metrics (its metric plot) and in metrics.jsonl's "metrics" rows."""
    from engines import registry
    from engines.config import replace_checked

    family = registry.get("sngan")
    config = replace_checked(family.preset(family.config_class(), 16), **SMALL_CONFIG["sngan"])
    settings = TrainSettings(steps=4, batch_size=4, log_every=2, sample_every=0, checkpoint_every=0,
                             n_samples=4, monitor_every=2, val_fraction=0.0)
    trainer = Trainer.new("sngan", config, settings, tiny_dataset(n=12), tmp_path / "run")
    events = list(trainer.run())
    loss_names = {k for e in events if isinstance(e, ev.Progress) for k in e.losses}
    metric_names = {k for e in events if isinstance(e, ev.Metrics) for k in e.values}
    assert loss_names == {"d_loss", "g_loss"}
    assert {"d_real", "d_fake", "d_grad_norm", "g_grad_norm", "sample_diversity"} <= metric_names
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in rows if "metrics" in r]
    assert logged and all(set(r["losses"]) == {"d_loss", "g_loss"} for r in rows)
    assert all({"d_real", "g_grad_norm"} <= set(r["metrics"]) for r in logged)
