"""Every registered family keeps the contract: trains, reports losses, samples deterministically,
saves and loads, and resumes exactly (grey and RGB, with and without labels)."""

import json

import numpy as np
import pytest

from engines import registry
from engines.config import field_infos, replace_checked
from engines.train import events as ev
from engines.train.loop import Control, Trainer, TrainSettings
from engines.train.restore import load_engine
from tests.engines.conftest import tiny_dataset
from tests.engines.family_cases import SMALL_CONFIG

SETTINGS = TrainSettings(steps=6, batch_size=4, log_every=1, sample_every=0, checkpoint_every=0, n_samples=4,
                         validate_every=3, monitor_every=3, val_fraction=0.2)


def small_config(name, size=16):
    family = registry.get(name)
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, size)
    return replace_checked(config, **SMALL_CONFIG.get(name, {}))


@pytest.mark.parametrize("name", registry.names())
def test_config_fields_are_described(name):
    for info in field_infos(registry.get(name).config_class):
        assert info.help and info.type in (int, float, bool, str), info.name


@pytest.mark.parametrize("channels, classes", [(1, 0), (3, 3)])
@pytest.mark.parametrize("name", registry.names())
def test_trains_samples_and_reloads(tmp_path, name, channels, classes):
    data = tiny_dataset(n=20, size=16, channels=channels, classes=classes)
    trainer = Trainer.new(name, small_config(name), SETTINGS, data, tmp_path / "run")
    events = list(trainer.run())
    failed = [e for e in events if isinstance(e, ev.Failed)]
    assert not failed, failed[0].details
    progress = [e for e in events if isinstance(e, ev.Progress)]
    assert len(progress) == SETTINGS.steps and progress[0].losses
    assert all(np.isfinite(v) for p in progress for v in p.losses.values())

    a = trainer.engine.sample(3, seed=5)
    b = trainer.engine.sample(3, seed=5)
    assert a.shape == (3, 16, 16, channels) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)

    engine, record = load_engine(tmp_path / "run")
    assert record["checkpoint_step"] == SETTINGS.steps
    np.testing.assert_array_equal(engine.sample(3, seed=5), a)


@pytest.mark.parametrize("name", registry.names())
def test_resume_is_exact(tmp_path, name):
    data = tiny_dataset(n=20, size=16, channels=1, classes=2)
    config = small_config(name)
    list(Trainer.new(name, config, SETTINGS, data, tmp_path / "a").run())
    control = Control()
    for e in Trainer.new(name, config, SETTINGS, data, tmp_path / "b").run(control):
        if isinstance(e, ev.Progress) and e.step == SETTINGS.steps // 2:
            control.request_stop()
    list(Trainer.resume(tmp_path / "b", data).run())

    def rows(p):
        return [json.loads(line) for line in (p / "metrics.jsonl").read_text().splitlines()]

    assert rows(tmp_path / "b") and [(r["step"], r["losses"], r.get("metrics")) for r in rows(tmp_path / "b")] == \
        [(r["step"], r["losses"], r.get("metrics")) for r in rows(tmp_path / "a")]
