"""Energy-based model: the Langevin sampler reports progress and stops, the buffer is the preview and
travels in checkpoints, and divergence is reported with a rollback offer."""

import numpy as np
import pytest
import torch

from engines.config import ConfigError
from engines.families.base import Batch, Cancelled, DataSpec
from engines.families.ebm import EBMConfig, EBMEngine, langevin
from tests.helpers import tiny_dataset

SMALL = EBMConfig(width=4, buffer_size=16, sgld_steps=2, sample_steps=5)


def engine(config=SMALL):
    torch.manual_seed(0)
    return EBMEngine(config, DataSpec(8, 1))


def batch(n=4):
    data = tiny_dataset(n=n, size=8)
    return Batch(torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous(), torch.zeros(n, dtype=torch.long))


def test_sampler_reports_every_langevin_step_and_stops_when_cancelled():
    e = engine()
    seen = []
    e.sample(2, seed=0, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 5) for i in range(1, 6)]
    e.set_sampling_options(steps="50")

    def stop_at_3(done, total):
        if done == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        e.sample(2, seed=0, progress=stop_at_3)


def test_sampling_options_are_checked():
    e = engine()
    e.set_sampling_options(steps="7", start="buffer", noise="0")
    assert (e.options.steps, e.options.start, e.options.noise) == (7, "buffer", 0.0)
    for bad in ({"steps": "0"}, {"start": "nowhere"}, {"temperature": "1"}):
        with pytest.raises(ConfigError):
            e.set_sampling_options(**bad)


def test_training_moves_chains_into_the_buffer_and_the_preview_shows_it():
    e = engine()
    before = e.buffer.images.clone()
    losses = e.train_step(batch())
    assert {"energy_real", "energy_sampled", "loss"} <= set(losses)
    assert not torch.equal(before, e.buffer.images)  # the chains went back into the buffer
    shown = e.preview(16, seed=3)
    buffer_images = ((e.buffer.images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    # every preview image is one of the buffer's images
    assert all(any(np.array_equal(img, b) for b in buffer_images) for img in shown)


def test_langevin_lowers_the_energy_and_clips_its_steps():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1), torch.nn.Flatten(0))
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    y = langevin(net, x, steps=1, step_size=1.0, noise=0.0, clip=0.001)
    assert (y - x).abs().max() <= 0.001 + 1e-6          # each pixel moved at most step * clip
    assert net(y).sum() < net(x).sum()
    assert all(p.requires_grad for p in net.parameters())  # restored afterwards


def test_exploding_energies_and_gaps_are_reported_as_divergence_with_rollback():
    e = engine()
    e.train_step(batch())
    assert e.monitor(1)[1] == []
    e._last = {"energy_real": -5.0, "energy_sampled": 500.0}
    values, findings = e.monitor(2)
    assert [(f.kind, f.rollback) for f in findings] == [("divergence", True)]
    e._last = {"energy_real": -1.0, "energy_sampled": 30.0}
    values, findings = e.monitor(3)
    assert values["energy_gap"] == 31.0 and [f.kind for f in findings] == ["divergence"]


def test_jem_variant_draws_the_class_asked_for_from_its_buffer_and_classifies():
    torch.manual_seed(0)
    e = EBMEngine(EBMConfig(width=4, buffer_size=12, sgld_steps=2, sample_steps=2, conditional=True),
                  DataSpec(8, 1, 3, ("a", "b", "c")))
    assert e.conditional and e.net(torch.zeros(1, 1, 8, 8)).shape == (1, 3)
    b = batch(6)
    b.labels = torch.tensor([0, 1, 2, 0, 1, 2])
    losses = e.train_step(b)
    assert "classifier_ce" in losses
    slots = e._slots(30, torch.tensor([2] * 30), torch.Generator().manual_seed(0))
    assert set(e.buffer.labels[slots].tolist()) == {2} and slots.max() < 12
    assert e.sample(3, seed=1, labels=np.array([0, 1, 2])).shape == (3, 8, 8, 1)
    assert "accuracy" in e.validate([b])


def test_strided_layout_scores_any_size_and_samples_from_the_buffer_by_default():
    from engines.families.ebm import EnergyNet

    for size in (8, 28, 32):  # every conv halves the map, down to about 2x2, whatever the size
        net = EnergyNet(3, size, 4, spectral=False, outputs=5, layout="strided")
        assert net(torch.zeros(2, 3, size, size)).shape == (2, 5)
    e = engine(EBMConfig(width=4, buffer_size=16, sgld_steps=2, sample_steps=1, layout="strided", sample_start="buffer"))
    e.train_step(batch())
    assert e.sampling_options().start == "buffer"
    assert e.sample(3, seed=0).shape == (3, 8, 8, 1)
