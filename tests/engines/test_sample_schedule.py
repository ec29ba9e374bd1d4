"""Sample grids early on the clock, then thinning out: the first grid within seconds of training on a
slow machine, sampling a small share of the time, and time-based grids never change training."""

from engines.config import replace_checked
from engines.families.gan import DCGANConfig
from engines.train import events as ev
from engines.train import loop
from engines.train.loop import Trainer, TrainSettings
from engines.train.sample_schedule import SampleSchedule
from tests.helpers import tiny_dataset


def test_the_gap_doubles_and_sampling_stays_a_tenth_of_the_time():
    s = SampleSchedule(every_steps=1000, first_s=10.0)
    s.reset(0.0, 0)
    assert not s.due(5, 9.9, None) and s.due(5, 10.0, None)
    s.drawn(5, 10.0)
    assert not s.due(6, 29.9, 0.5) and s.due(6, 30.0, 0.5)      # 20 s after the first
    s.drawn(6, 30.0)
    assert not s.due(7, 69.0, 0.5) and s.due(7, 70.0, 0.5)      # then 40 s
    s.drawn(7, 70.0)
    assert not s.due(8, 70.0 + 179, 20.0) and s.due(8, 70.0 + 180, 20.0)  # a 20 s grid: 180 s of training
    assert s.due(1000, 70.5, 0.5)                               # sample_every still decides its steps
    off = SampleSchedule(every_steps=0, first_s=10.0)           # sample_every 0: no grids at all
    assert not off.due(5, 100.0, None)


def test_clock_grids_come_early_and_leave_the_losses_alone(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(loop, "_now", lambda: now[0])
    original = Trainer._batch

    def batch_and_tick(self, step):   # one second of training per step
        now[0] += 1.0
        return original(self, step)

    monkeypatch.setattr(Trainer, "_batch", batch_and_tick)
    settings = TrainSettings(steps=12, batch_size=4, log_every=1, sample_every=100, checkpoint_every=0,
                             n_samples=4, sample_seconds=3.0, threads=1)

    def run(settings):
        trainer = Trainer.new("dcgan", DCGANConfig(latent_dim=4, g_width=4, d_width=4), settings,
                              tiny_dataset(n=8), None)
        events = list(trainer.run())
        return ([e.step for e in events if isinstance(e, ev.Samples)],
                [e.losses for e in events if isinstance(e, ev.Progress)])

    grids, losses = run(settings)
    assert grids == [0, 3, 9, 12]          # 3 s of training, then 6 s more, then the end
    plain_grids, plain_losses = run(replace_checked(settings, sample_seconds=0.0))
    assert plain_grids == [0, 12] and plain_losses == losses
