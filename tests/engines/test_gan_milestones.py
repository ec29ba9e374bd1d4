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
from tests.engines.conftest import tiny_dataset
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
