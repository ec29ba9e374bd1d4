"""Schedules that depend on a run's length read the budget's planned length, so a run limited by
time reaches them: CycleGAN's learning rate decays to (nearly) zero by its end, ProGAN grows to full
size by mid-run. The loop's clock is replaced by one that moves one second per training step."""

import pytest

from engines import registry
from engines.config import replace_checked
from engines.train import loop
from engines.train.loop import Trainer, TrainSettings
from tests.helpers import tiny_dataset
from tests.engines.family_cases import SMALL_CONFIG

SECONDS = 24  # the time budget: 24 steps at one second each, far fewer than the step cap


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(loop, "_now", lambda: now[0])
    original = Trainer._batch

    def batch_and_tick(self, step):
        now[0] += 1.0
        return original(self, step)

    monkeypatch.setattr(Trainer, "_batch", batch_and_tick)
    return now


def _settings():
    return TrainSettings(steps=10_000, time_limit=float(SECONDS), batch_size=4, log_every=5, sample_every=0,
                         checkpoint_every=0, monitor_every=0, validate_every=0, n_samples=4, device="cpu")


def _watch(engine, record):
    original = engine.train_step

    def step(batch, index=0, total=1):
        out = original(batch, index, total)
        record(index, total)
        return out
    engine.train_step = step


def test_a_time_limited_cyclegan_decays_its_learning_rate_by_its_end(clock):
    config = replace_checked(registry.get("cyclegan").config_class(), width=4, d_width=4, blocks=1)
    trainer = Trainer.new("cyclegan", config, _settings(), tiny_dataset(n=8), None,
                          inputs={"b": tiny_dataset(n=8, channels=3, seed=1)})
    rates = []
    _watch(trainer.engine, lambda i, total: rates.append(trainer.engine.opt_g.param_groups[0]["lr"]))
    events = list(trainer.run())
    assert events[-1].reason == "time budget" and trainer.step == SECONDS
    assert rates[0] == pytest.approx(config.lr)
    assert rates[-1] <= 0.1 * config.lr  # the step cap (10,000) alone would have kept it at config.lr
    assert all(b <= a + 1e-12 for a, b in zip(rates[SECONDS // 2:], rates[SECONDS // 2 + 1:]))


def test_a_time_limited_progan_reaches_full_size_by_mid_run(clock):
    config = replace_checked(registry.get("progan").config_class(), **SMALL_CONFIG["progan"])
    trainer = Trainer.new("progan", config, _settings(), tiny_dataset(n=8), None)
    stages = []
    _watch(trainer.engine, lambda i, total: stages.append(trainer.engine.growth(i)))
    events = list(trainer.run())
    assert events[-1].reason == "time budget" and len(stages) == SECONDS
    full = trainer.engine.doublings
    assert full >= 2
    assert stages[SECONDS * 6 // 10][0] == full  # full size (fading in) by mid-run
    assert stages[SECONDS * 6 // 10 + 1] == (full, 1.0)  # and stable soon after: the second half trains at full size
    assert stages[-1] == (full, 1.0)
    assert [s for s, _ in stages] == sorted(s for s, _ in stages)  # growth never goes back
