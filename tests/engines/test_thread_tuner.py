"""Automatic threads that measure: the tuner keeps the fastest count, looks again when training slows
down or now and then, and says what it chose and why; the loop reports it as a Note."""

import pytest

from engines.runtime import thread_tuner
from engines.runtime.thread_tuner import ThreadTuner, candidate_counts, tuner_for


class Machine:
    """Step times as a function of the thread count and whether another job is running."""

    def __init__(self):
        self.busy = False
        self.threads = 2

    def set(self, n):
        self.threads = n

    def step(self):
        if self.busy:   # two threads fight another job for two cores: much slower than one
            return {1: 0.02, 2: 0.30}[self.threads]
        return {1: 0.03, 2: 0.02}[self.threads]


def run(tuner, machine, steps):
    said = []
    for _ in range(steps):
        note = tuner.step_done(machine.step())
        if note:
            said.append(note)
    return said


def test_candidates_are_one_two_four_and_the_cores():
    assert candidate_counts(1) == [1]
    assert candidate_counts(2) == [1, 2]
    assert candidate_counts(6) == [1, 2, 4, 6]


def test_keeps_the_fastest_and_moves_when_the_machine_gets_busy_and_back():
    m = Machine()
    tuner = ThreadTuner(2, start=2, set_threads=m.set, check_s=5.0, max_check_s=20.0)
    said = run(tuner, m, 20)
    assert m.threads == 2 and tuner.current == 2
    assert said and said[0].startswith("2 threads kept: the cores are free")

    m.busy = True      # another job starts: steps at 2 threads slow down, the tuner looks again
    said = run(tuner, m, 20)
    assert m.threads == 1
    assert said == [s for s in said if s.startswith("2 → 1 thread: the machine is busy")] and len(said) == 1

    m.busy = False     # it ends: found by the periodic look (1 thread is no slower than before)
    said = run(tuner, m, 600)
    assert m.threads == 2 and any(s.startswith("1 → 2 threads") for s in said)


def test_a_probe_costs_a_few_steps_and_gives_up_on_a_hopeless_count():
    m = Machine()
    m.busy = True
    counts = []
    tuner = ThreadTuner(2, start=1, set_threads=lambda n: (m.set(n), counts.append(n)), check_s=1e9)
    slow_steps = 0
    for _ in range(30):
        slow_steps += m.threads == 2
        tuner.step_done(m.step())
    # the first step and 3 more at 1, then one at 2 (far slower than 1 thread: given up), then 1 from there on
    assert tuner.current == 1 and counts == [1, 1, 2, 1] and tuner.probes == 1 and slow_steps == 1


def test_a_tie_goes_to_fewer_threads():
    tuner = ThreadTuner(2, start=2, set_threads=lambda n: None)
    for _ in range(10):
        tuner.step_done(0.0200 if tuner.current == 2 else 0.0205)
    assert tuner.current == 1


def test_fixed_counts_and_the_environment_are_honoured(monkeypatch):
    monkeypatch.setenv(thread_tuner.PROBE_ENV, "1")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert tuner_for(0, 2, "cpu") is not None
    assert tuner_for(2, 2, "cpu") is None          # a number is kept as given
    assert tuner_for(0, 2, "cuda") is None
    assert tuner_for(0, 1, "cpu") is None          # one core: nothing to choose
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert tuner_for(0, 2, "cpu") is None          # the person's OMP_NUM_THREADS, one process
    assert tuner_for(0, 2, "cpu", world=2) is not None   # the launcher's share of several processes
    monkeypatch.setenv(thread_tuner.PROBE_ENV, "0")
    assert tuner_for(0, 2, "cpu", world=2) is None


def test_the_loop_says_what_it_chose(monkeypatch):
    from engines.families.gan import DCGANConfig
    from engines.train import events as ev
    from engines.train import loop
    from engines.train.loop import Trainer, TrainSettings
    from tests.engines.conftest import tiny_dataset

    made = []

    def fake(setting, threads_now, device_type, world=1):
        made.append((setting, device_type))
        return ThreadTuner(2, start=2, set_threads=lambda n: None)

    monkeypatch.setattr(loop, "tuner_for", fake)
    settings = TrainSettings(steps=9, batch_size=4, sample_every=0, checkpoint_every=0, threads=0)
    trainer = Trainer.new("dcgan", DCGANConfig(latent_dim=4, g_width=4, d_width=4), settings, tiny_dataset(n=8), None)
    notes = [e for e in trainer.run() if isinstance(e, ev.Note) and e.kind == "threads"]
    assert made == [(0, "cpu")] and len(notes) == 1 and "thread" in notes[0].message


def test_the_count_is_read_back_from_the_sentence():
    assert thread_tuner.chosen_count("2 → 1 thread: the machine is busy (…)") == 1
    assert thread_tuner.chosen_count("2 threads kept: the cores are free") == 2
    assert thread_tuner.chosen_count("something else") is None
