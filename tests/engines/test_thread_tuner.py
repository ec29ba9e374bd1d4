"""Automatic threads that measure: the tuner warms up unmeasured, compares the counts in paired
segments of training time, keeps the fastest without flapping, looks again when training slows down
or now and then, and says what it chose and why; the loop reports it. Step times here are made up
(a fake machine), so every decision is deterministic and costs no training."""

import pytest

from engines.runtime import thread_tuner
from engines.runtime.thread_tuner import ThreadTuner, candidate_counts, tuner_for


class Machine:
    """Seconds per step as a function of the thread count and whether another job runs; the first
    steps are slow whatever the count (lazy set-up), and a little alternating noise is added."""

    def __init__(self, quiet=None, busy=None, slow_start=(1.0, 0.4), noise=0.02):
        self.quiet = quiet or {1: 0.030, 2: 0.020}      # nothing else runs: 2 threads 1.5x faster
        self.busy_costs = busy or {1: 0.033, 2: 0.45}   # another job on the cores: 2 threads far slower
        self.busy, self.threads, self.steps = False, 1, 0
        self.slow_start, self.noise = list(slow_start), noise
        self.counts = []                                  # the count of every step
        self.idle_ticks, self.total_ticks = 0.0, 0.0      # /proc/stat's idle and total time, 2 CPUs

    def set(self, n):
        self.threads = n

    def step(self):
        self.steps += 1
        self.counts.append(self.threads)
        if self.slow_start:
            return self.slow_start.pop(0)
        base = (self.busy_costs if self.busy else self.quiet)[self.threads]
        dt = base * (1 + self.noise * (1 if self.steps % 3 == 0 else -0.5))
        self.total_ticks += 2 * dt        # the other job keeps a core busy; ours as many as threads
        self.idle_ticks += max(0, 2 - self.threads - (1 if self.busy else 0)) * dt
        return dt

    def idle(self):
        return self.idle_ticks, self.total_ticks, 2

    def tuner(self, **kw):
        kw.setdefault("load_average", lambda: 3.0 if self.busy else 1.0)
        kw.setdefault("idle", self.idle)
        return ThreadTuner(2, set_threads=self.set, **kw)


def run_for(tuner, machine, seconds):
    """Train for `seconds` of fake step time; the tuner's sentences and the steps done."""
    said, spent, steps = [], 0.0, 0
    while spent < seconds:
        dt = machine.step()
        spent += dt
        steps += 1
        if note := tuner.step_done(dt):
            said.append(note)
    return said, steps


def fixed_steps(machine_args, threads, seconds, busy=False):
    m = Machine(**machine_args)
    m.busy, m.threads = busy, threads
    return run_for(ThreadTuner(1, set_threads=lambda n: None), m, seconds)[1]


def test_candidates_are_one_two_four_and_the_cores():
    assert candidate_counts(1) == [1]
    assert candidate_counts(2) == [1, 2]
    assert candidate_counts(6) == [1, 2, 4, 6]


def test_the_slow_first_steps_are_not_measured():
    # warm-up steps of 1 s at one thread would make 2 threads look 30x faster if measured: the tuner
    # would still pick 2 here, so make one thread the truly faster count and check it is kept
    m = Machine(quiet={1: 0.020, 2: 0.030}, slow_start=(1.0, 0.6, 0.3))
    tuner = m.tuner()
    said, _ = run_for(tuner, m, 3.0)
    assert tuner.current == 1 and said and said[0].startswith("1 thread: more threads gain nothing")
    assert m.counts[:3] == [1, 1, 1]          # the warm-up runs at the safe count


def test_without_other_work_it_trains_nearly_as_fast_as_the_best_fixed_count():
    # a 20-second run (what the benchmark measures) loses little to warm-up and probing
    for quiet in ({1: 0.030, 2: 0.020}, {1: 0.15, 2: 0.10}, {1: 0.3, 2: 0.2}, {1: 0.021, 2: 0.020}):
        m = Machine(quiet=quiet)
        said, steps = run_for(m.tuner(), m, 20.0)
        best = max(fixed_steps({"quiet": quiet}, n, 20.0) for n in (1, 2))
        assert steps >= 0.95 * best, (quiet, steps, best, said)


def test_under_load_it_trains_nearly_as_fast_as_the_best_fixed_count_and_says_why():
    m = Machine()
    m.busy = True
    tuner = m.tuner()
    said, steps = run_for(tuner, m, 20.0)
    best = max(fixed_steps({}, n, 20.0, busy=True) for n in (1, 2))
    assert steps >= 0.9 * best
    assert said[0].startswith("1 thread: the machine is busy (1 thread trains 13.5× faster than 2")
    assert m.counts.count(2) <= 3            # a hopeless count is given up after its first step


def test_moves_when_another_job_starts_and_back_when_it_ends():
    m = Machine()
    tuner = m.tuner()
    said, _ = run_for(tuner, m, 5.0)
    assert tuner.current == 2 and said == [s for s in said if s.startswith("2 threads: the cores are free")]

    m.busy = True                           # another job starts: the last second of steps is slower
    m.counts.clear()
    said, _ = run_for(tuner, m, 3.0)
    assert tuner.current == 1 and len(said) == 1 and said[0].startswith("2 → 1 thread: the machine is busy")
    assert m.counts.index(1) <= 4           # within the window's few slow steps

    m.busy = False                          # it ends: found by the next look (1 s, then 10 s later)
    said, _ = run_for(tuner, m, 12.0)
    assert tuner.current == 2 and len(said) == 1 and said[0].startswith("1 → 2 threads: the cores are free")
    assert tuner.reasons[:2] == ["start", "slower"] and len(tuner.reasons) == len(tuner.looks)
    assert sum(n for n, _ in tuner.time_at.values()) == m.steps   # where the training time went, by count


def test_close_counts_do_not_flap_and_looks_thin_out():
    # 1 and 2 threads within 2% of each other, with noise larger than that: a choice, then quiet
    m = Machine(quiet={1: 0.0204, 2: 0.0200}, noise=0.05)
    tuner = m.tuner()
    said, _ = run_for(tuner, m, 600.0)
    assert len(said) <= 2
    gaps = [round(b - a) for a, b in zip(tuner.looks, tuner.looks[1:])]
    # 10 s, 20 s, 40 s, … between looks (half that while the test stays unsure), at least every ~3 minutes
    assert 10 <= gaps[0] <= 14 and len(gaps) <= 11 and gaps == sorted(gaps) and gaps[-1] <= 170


def test_a_tie_goes_to_fewer_threads():
    m = Machine(quiet={1: 0.0202, 2: 0.0200}, noise=0.0)
    tuner = m.tuner()
    run_for(tuner, m, 6.0)
    assert tuner.current == 1 and tuner.probes == 1


def test_a_load_that_rises_during_the_probe_treats_both_counts_alike():
    # both counts slow down steadily while they are compared (ABBA order): 2 is 10% faster throughout
    class Rising(Machine):
        def step(self):
            base = super().step()
            return base * (1 + 0.3 * self.steps / 40) if not self.slow_start and self.steps > 2 else base

    m = Rising(quiet={1: 0.022, 2: 0.020}, noise=0.0, slow_start=(0.1, 0.1))
    tuner = m.tuner(first_check_s=1e9, drift=10)
    run_for(tuner, m, 4.0)
    assert tuner.current == 2 and tuner.probes == 1


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


def test_the_loop_reports_the_count_it_starts_with_and_says_what_it_chose(monkeypatch):
    import torch

    from engines.families.gan import DCGANConfig
    from engines.train import events as ev
    from engines.train import loop
    from engines.train.loop import Trainer, TrainSettings
    from tests.helpers import tiny_dataset

    made, counts = [], []

    def fake(setting, threads_now, device_type, world=1):
        made.append((setting, device_type))
        return ThreadTuner(2, start=1, set_threads=counts.append, warmup_steps=1, warmup_s=0.0, segment_s=0.0,
                           segment_steps=1, max_rounds=3)

    monkeypatch.setattr(loop, "tuner_for", fake)
    before = torch.get_num_threads()
    try:
        settings = TrainSettings(steps=14, batch_size=4, sample_every=0, checkpoint_every=0, threads=0)
        trainer = Trainer.new("dcgan", DCGANConfig(latent_dim=4, g_width=4, d_width=4), settings,
                              tiny_dataset(n=8), None)
        events = list(trainer.run())
    finally:
        torch.set_num_threads(before)
    started = next(e for e in events if isinstance(e, ev.Started))
    notes = [e.message for e in events if isinstance(e, ev.Note) and e.kind == "threads"]
    assert made == [(0, "cpu")] and started.threads == 1 == counts[0]   # what the first steps use
    assert notes[0].startswith("automatic threads: 1 thread to start; measuring 1 and 2")
    assert len(notes) == 2 and thread_tuner.chosen_count(notes[1]) in (1, 2)


def test_the_count_is_read_back_from_the_sentence():
    assert thread_tuner.chosen_count("2 → 1 thread: the machine is busy (…)") == 1
    assert thread_tuner.chosen_count("2 threads: the cores are free") == 2
    assert thread_tuner.chosen_count("2 threads kept: the cores are free") == 2
    assert thread_tuner.chosen_count("automatic threads: 1 thread to start") is None
    assert thread_tuner.chosen_count("something else") is None


def test_slow_steps_are_compared_over_several_steps_each():
    # a step of about a second at either count: one step each is not enough to tell them apart
    m = Machine(quiet={1: 1.5, 2: 1.0}, slow_start=(3.0, 2.0), noise=0.3)
    tuner = m.tuner()
    said, _ = run_for(tuner, m, 30.0)
    assert tuner.history[0][1] == 2 and said[0].startswith("2 threads: the cores are free")
    # after the warm-up: alternated, a second of steps at each count at least (the first at 2 starts
    # OpenMP's threads and is not measured), A B, then B A
    assert m.counts[3:9] == [1, 2, 2, 2, 2, 1]


def test_the_first_step_at_a_new_count_is_not_held_against_it():
    # the first step at 2 threads also starts OpenMP's second thread: 1.8x slower than its others
    class Spawning(Machine):
        def step(self):
            first = self.threads == 2 and 2 not in self.counts
            return super().step() * (1.8 if first and not self.slow_start else 1.0)

    m = Spawning(quiet={1: 0.24, 2: 0.2}, slow_start=(0.5, 0.2), noise=0.0)
    tuner = m.tuner()
    run_for(tuner, m, 8.0)
    assert tuner.history[0][1] == 2


class Noisy(Machine):
    """A quiet machine whose steps vary at random (seeded: the same steps every run), and where the
    idle time the tuner reads can be set apart from the step times (another job on a third core, or
    an idle-time reading that fails)."""

    def __init__(self, quiet, seed, sd=0.12, idle_cores=None, **kw):
        import random

        super().__init__(quiet=quiet, noise=0.0, **kw)
        self.random, self.sd, self.idle_cores = random.Random(seed), sd, idle_cores

    def step(self):
        import math

        dt = super().step()
        return dt if self.slow_start else dt * math.exp(self.random.gauss(0, self.sd))

    def idle(self):
        if self.idle_cores == "unreadable":
            return None
        if self.idle_cores is None:
            return super().idle()
        return self.idle_cores * self.total_ticks / 2, self.total_ticks, 2


MODEST = {1: 0.18, 2: 0.155}   # 2 threads 16% faster: a DDPM at 20 px on a quiet 2-core machine


def test_a_modest_gain_on_free_cores_is_found_despite_noisy_steps():
    # steps vary by ~12% each: 2-step probes would often call it a tie; rounds go on until sure
    chosen = []
    for seed in range(10):
        m = Noisy(MODEST, seed)
        tuner = m.tuner()
        run_for(tuner, m, 12.0)
        chosen.append(tuner.history[0][1])
        assert "alternated round" in tuner.history[0][2] and "1.0 idle core at 1" in tuner.history[0][2]
    assert chosen.count(2) >= 9, chosen


def test_a_modest_gain_costs_little_to_find():
    # the warm-up, the rounds at 1 thread and the look at ~10 s, against 2 threads throughout
    for seconds in (12.0, 30.0):
        m = Machine(quiet=MODEST, noise=0.0)
        said, steps = run_for(m.tuner(), m, seconds)
        assert said[0].startswith("2 threads: the cores are free (2 threads train 1.16× faster than 1")
        assert steps >= 0.95 * fixed_steps({"quiet": MODEST, "noise": 0.0}, 2, seconds)


@pytest.mark.parametrize("idle, chosen", [(None, 2), (0.0, 1), ("unreadable", 1)])
def test_a_small_gain_needs_free_cores(idle, chosen):
    # 2 threads 5% faster: taken when the second core was idle while 1 thread trained; when another
    # job had it (or idle time cannot be read) a wrong "2" could cost far more than 5%: 1 thread
    m = Noisy({1: 0.021, 2: 0.020}, seed=0, sd=0.0, idle_cores=idle)
    tuner = m.tuner(load_average=lambda: 1.0)
    said, _ = run_for(tuner, m, 4.0)
    assert tuner.history[0][1] == chosen, said
    if chosen == 1 and idle == 0.0:
        assert said[0].startswith("1 thread: more threads gain too little on a busy machine "
                                  "(2 threads measured 1.05× faster")


def test_a_clear_gain_is_taken_on_a_busy_machine_too():
    # the other job leaves less than the second core, yet 2 threads get a larger share: 16% > 10%
    m = Noisy(MODEST, seed=0, sd=0.0, idle_cores=0.2)
    tuner = m.tuner()
    said, _ = run_for(tuner, m, 12.0)
    assert tuner.history[0][1] == 2
    assert said[0].startswith("2 threads: more threads get a larger share of the busy machine")


def test_a_later_look_that_is_unsure_keeps_the_count_in_use():
    m = Noisy(MODEST, seed=1)
    tuner = m.tuner()
    run_for(tuner, m, 12.0)
    assert tuner.current == 2
    m.quiet = {1: 0.16, 2: 0.16}            # now a tie within the steps' noise: no reason to move
    said, _ = run_for(tuner, m, 120.0)
    assert tuner.current == 2 and said == [] and len(tuner.looks) >= 4


def test_looks_at_a_sure_choice_cost_one_round():
    m = Machine(quiet={1: 0.030, 2: 0.020}, noise=0.0)
    tuner = m.tuner()
    run_for(tuner, m, 10.0)
    looks, m.counts = len(tuner.looks), []
    run_for(tuner, m, 300.0)
    assert len(tuner.looks) - looks >= 4 and tuner.current == 2
    # a segment at 1 thread per look (3 steps, 0.3 s at least: 10 steps here), nothing more
    assert m.counts.count(1) <= 10 * (len(tuner.looks) - looks)


def test_idle_time_is_read_for_the_cpus_this_process_may_use():
    stat = ("cpu  100 0 50 1000 10 0 0 5 0 0\n"
            "cpu0 10 0 5 300 5 0 0 0 0 0\n"
            "cpu1 20 0 5 200 0 0 0 5 0 0\n"
            "cpu2 70 0 40 500 5 0 0 0 0 0\n"
            "intr 12345\n")
    assert thread_tuner.cpu_idle(stat, {0, 1}) == (505.0, 550.0, 2)   # idle + iowait; steal is busy
    assert thread_tuner.cpu_idle(stat, {2}) == (505.0, 615.0, 1)
    assert thread_tuner.cpu_idle("garbage", {0}) is None
    assert thread_tuner.cpu_idle("cpu0 x y\n", {0}) is None


def test_a_load_that_comes_and_goes_does_not_keep_measuring_a_losing_count():
    # on a busy machine other jobs' bursts make 1 thread's steps 1.6x slower every other 1.5 s: each
    # change of speed could call for a look, and each look costs a step at 2 threads (13x slower)
    class Bursts(Machine):
        clock = 0.0

        def step(self):
            dt = super().step() * (1.6 if not self.slow_start and int(self.clock / 1.5) % 2 else 1.0)
            self.clock += dt
            return dt

    m = Bursts()
    m.busy = True
    tuner = m.tuner()
    said, steps = run_for(tuner, m, 30.0)
    fixed = Bursts()
    fixed.busy = True
    fixed_steps_ = run_for(ThreadTuner(1, set_threads=lambda n: None), fixed, 30.0)[1]
    assert tuner.current == 1 and len(said) == 1 and steps >= 0.9 * fixed_steps_
    assert len(tuner.looks) <= 10 and m.counts.count(2) <= 10


def test_one_round_on_a_busy_machine_cannot_move_to_more_threads():
    # another job's burst lands on 1 thread's first segment (1.6x slower steps): one round says 2
    # threads are 1.45x faster; the second round (B A) shows 1 thread is the faster on this machine
    class Burst(Machine):
        def step(self):
            dt = super().step()
            return dt * 1.6 if 4 <= self.steps <= 12 else dt

    m = Burst(busy={1: 0.030, 2: 0.033}, noise=0.0, slow_start=(0.5, 0.2, 0.1))
    m.busy = True
    tuner = m.tuner()
    said, _ = run_for(tuner, m, 6.0)
    assert m.counts[3:6] == [1, 1, 1] and tuner.history[0][1] == 1 and tuner.current == 1
    assert said[0].startswith("1 thread: the machine is busy")


def test_a_step_far_slower_at_more_threads_looks_at_once_and_a_lone_spike_changes_nothing():
    m = Machine(noise=0.0)
    tuner = m.tuner(window_s=1e9)            # no look from a slower window (as while such looks space out)
    run_for(tuner, m, 5.0)
    assert tuner.current == 2
    m.busy, m.counts = True, []              # oversubscribed: 2 threads' steps 20x slower
    said, _ = run_for(tuner, m, 2.0)
    assert said[0].startswith("2 → 1 thread") and m.counts.count(2) <= 2

    m = Machine(noise=0.0)
    tuner = m.tuner()
    run_for(tuner, m, 5.0)
    m.quiet = dict(m.quiet)
    spike = {"left": 1}

    class Once(dict):                        # one step of 2 threads takes 0.3 s instead of 0.02
        def __getitem__(self, n):
            if n == 2 and spike["left"]:
                spike["left"] -= 1
                return 0.3
            return dict.__getitem__(self, n)

    m.quiet = Once(m.quiet)
    said, _ = run_for(tuner, m, 5.0)
    assert said == [] and tuner.current == 2 and tuner.history[-1][1] == 2


def test_on_a_machine_seen_busy_more_threads_get_one_step():
    # 2 threads 1.5x slower (not 2x: no "hopeless" allowance would stop them): where the second core
    # was seen busy while 1 thread trained, a clearly slower step at 2 ends their turn, the first too
    m = Noisy({1: 0.030, 2: 0.045}, seed=0, sd=0.0, idle_cores=0.0)
    tuner = m.tuner()
    said, _ = run_for(tuner, m, 2.0)
    assert tuner.history[0][1] == 1 and m.counts.count(2) == 1
    m = Noisy({1: 0.030, 2: 0.045}, seed=0, sd=0.0)   # cores idle: OpenMP's start is allowed for
    tuner = m.tuner()
    run_for(tuner, m, 2.0)
    assert tuner.history[0][1] == 1 and m.counts.count(2) == 3


def test_when_the_cores_fewer_threads_left_turn_idle_it_looks():
    # chosen on a busy machine: 1 thread (2 were slower); the other job ends, which leaves 1 thread's
    # speed as it was (no change of speed to notice) but the second core idle: a look finds 2 faster
    m = Noisy({1: 0.030, 2: 0.045}, seed=0, sd=0.0, idle_cores=0.0)
    tuner = m.tuner()
    run_for(tuner, m, 2.0)
    assert tuner.current == 1
    m.quiet, m.idle_cores = {1: 0.030, 2: 0.020}, None
    said, _ = run_for(tuner, m, 4.0)
    assert tuner.current == 2 and said[0].startswith("1 → 2 threads: the cores are free")
    assert tuner.reasons[-1] == "freed"
