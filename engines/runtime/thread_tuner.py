"""Automatic CPU threads that measure instead of assume.

One thread per physical core is fastest only while nothing else runs: on a busy machine (a browser,
a second run, the studio's own window) two threads fighting other work for two cores can train
several times slower than one. So with `threads` = 0 the loop hands every training step's duration
to a ThreadTuner, which

- warms up first at one thread (the first steps are slow whatever the count: lazy set-up, the
  allocator, optimiser state) for `warmup_steps` steps and `warmup_s` seconds, none of which it
  measures, nor the first step at any other count (it starts OpenMP's threads);
- then tries the candidate counts (1, 2, 4, … and the core count) in segments of at least
  `segment_s` seconds each, in paired, alternated order (A B, then B A: a load that rises or falls
  during the probe treats every count alike) and compares their steps per second; it stops after
  the first pair when one count is clearly faster (`clear`) over at least `confident_steps` steps
  each, adds rounds (up to `max_rounds`) while the best two are within `refine` of each other or
  measured fewer steps than that, and drops a count at once when its first step is
  far slower than the best so far (`give_up`), so a hopeless count costs one step;
- keeps the fastest (within `tie` the fewer threads: they leave room for other work; on a later
  look the count in use is kept unless another beats it by `switch`, so it does not flap);
- looks again `first_check_s` seconds of stepping after a choice (the interval doubles up to
  `max_check_s` while the choice stands), and at once when the last `window_s` seconds of steps are
  `drift` times slower or faster than the kept count measured (another job started or ended).

Only the counts it is not keeping cost anything, and only while measured. Probing steps are real
training steps (counted in the step and time budgets); they change results only as the thread count
itself does (floating-point sums split differently). A fixed `threads` setting, or OMP_NUM_THREADS,
is taken as given and never probed; GENSTUDIO_THREAD_PROBE=0 keeps automatic at one thread per core
without probing (the test suite sets it: runs it compares must not depend on the machine's load).

The tuner has no clock of its own: it sums the step times it is given, so its decisions can be
tested with made-up step times.
"""

from __future__ import annotations

import os
import re
from collections import deque
from typing import Callable

PROBE_ENV = "GENSTUDIO_THREAD_PROBE"


def probing_enabled() -> bool:
    return os.environ.get(PROBE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def candidate_counts(cores: int) -> list[int]:
    """1, 2, 4, … below `cores`, and `cores` itself."""
    counts, k = {max(1, cores)}, 1
    while k < cores:
        counts.add(k)
        k *= 2
    return sorted(counts)


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def _set_torch_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


class ThreadTuner:
    """Feed it each step's wall time with step_done(); it sets the thread count for the next step and
    returns a sentence for a person when its choice is worth saying (else None)."""

    def __init__(self, cores: int, *, start: int | None = 1, warmup_steps: int = 3, warmup_s: float = 0.3,
                 segment_s: float = 0.3, clear: float = 1.3, refine: float = 1.1, max_rounds: int = 4,
                 confident_steps: int = 2, tie: float = 0.02, switch: float = 0.06,
                 give_up: float = 2.0, first_check_s: float = 10.0, max_check_s: float = 160.0,
                 window_s: float = 1.0, drift: float = 1.3,
                 set_threads: Callable[[int], None] = _set_torch_threads,
                 load_average: Callable[[], float | None] = _load_average):
        self.cores = max(1, cores)
        self.candidates = candidate_counts(cores)
        self.current = start if start in self.candidates else self.candidates[0]
        self.warmup_steps, self.warmup_s = warmup_steps, warmup_s
        self.segment_s, self.clear, self.tie, self.switch, self.give_up = segment_s, clear, tie, switch, give_up
        self.refine, self.max_rounds, self.confident_steps = refine, max_rounds, confident_steps
        self.first_check_s, self.max_check_s, self.check_s = first_check_s, max_check_s, first_check_s
        self.window_s, self.drift = window_s, drift
        self._set, self._load = set_threads, load_average
        self._set(self.current)
        self._used = {self.current}      # counts that have trained a step (the start count: the warm-up)
        self.phase = "warmup" if len(self.candidates) > 1 else "fixed"
        self._seen = 0                   # steps seen
        self._clock = 0.0                # seconds of stepping so far (the sum of the step times given)
        self._warm = (0, 0.0)            # warm-up steps and seconds
        self._next_check = 0.0
        self._reference: float | None = None   # seconds per step of the kept count, as last measured
        self._recent: deque[float] = deque()   # the last window_s seconds of step times (kept count)
        # the probe under way
        self._reason = "start"
        self._before = self.current
        self._plan: list[int] = []       # counts still to measure in this round
        self._round = 0
        self._totals: dict[int, list[float]] = {}   # count -> [steps, seconds] over its segments
        self._spent: dict[int, float] = {}          # count -> seconds of this probe's steps at it
        self._dropped: set[int] = set()
        self._segment = [0, 0.0]         # steps, seconds of the segment under way
        self.probes = 0
        self.history: list[tuple[int, int, str]] = []  # (steps seen, count, why) at each choice
        self.looks: list[float] = []    # seconds of stepping at each choice

    @property
    def probing(self) -> bool:
        return self.phase == "probe"

    def opening(self) -> str | None:
        """What automatic threads will do, said once before the first step (None: nothing to choose)."""
        if self.phase == "fixed":
            return None
        counts = " and ".join(", ".join(str(c) for c in self.candidates).rsplit(", ", 1))
        return (f"automatic threads: {_threads(self.current)} to start; measuring {counts} over the first "
                f"seconds of training, then keeping the fastest")

    # --- feeding it ---------------------------------------------------------------------------
    def step_done(self, seconds: float) -> str | None:
        seconds = max(0.0, float(seconds))
        self._seen += 1
        self._clock += seconds
        if self.phase == "fixed":
            return None
        if self.phase == "warmup":
            steps, spent = self._warm[0] + 1, self._warm[1] + seconds
            self._warm = (steps, spent)
            if steps >= self.warmup_steps and spent >= self.warmup_s:
                self._begin_probe("start")
            return None
        if self.phase == "probe":
            return self._probe_step(seconds)
        return self._steady_step(seconds)

    def _steady_step(self, seconds: float) -> str | None:
        self._recent.append(seconds)
        total = sum(self._recent)
        while len(self._recent) > 3 and total - self._recent[0] >= self.window_s:
            total -= self._recent.popleft()
        if self._reference and len(self._recent) >= 3 and total >= self.window_s:
            mean = total / len(self._recent)
            if mean > self.drift * self._reference:
                self._begin_probe("slower", seed=(len(self._recent), total))
                return None
            if mean * self.drift < self._reference:
                self._begin_probe("faster", seed=(len(self._recent), total))
                return None
        if self._clock >= self._next_check:
            seed = (len(self._recent), total) if total >= self.segment_s else None
            self._begin_probe("periodic", seed=seed)
        return None

    # --- probing --------------------------------------------------------------------------------
    def _begin_probe(self, reason: str, seed: tuple[int, float] | None = None) -> None:
        """Measure every candidate, the count in use first. `seed`: the count in use was just measured
        while training (steps, seconds), so the probe starts with the others."""
        self.phase, self._reason, self._before = "probe", reason, self.current
        order = [self.current] + [c for c in self.candidates if c != self.current]
        self._totals, self._dropped, self._round, self._spent = {}, set(), 0, {}
        if seed is not None:
            self._totals[self.current] = [float(seed[0]), float(seed[1])]
            order = order[1:]
        self._plan = order
        self._segment = [0, 0.0]
        self._switch_to(self._plan[0])

    def _switch_to(self, n: int) -> None:
        if n != self.current:
            self._set(n)
            self.current = n

    def _best_seconds(self, other_than: int) -> float | None:
        rates = [s / n for c, (n, s) in self._totals.items() if c != other_than and c not in self._dropped and n]
        return min(rates, default=None)

    def _probe_step(self, seconds: float) -> str | None:
        count = self.current
        if count not in self._used:   # its first step starts OpenMP's threads: not a measure of the count,
            self._used.add(count)     # unless it is hopeless anyway
            best = self._best_seconds(count)
            if best is None or seconds <= self.give_up * best:
                return None
        self._segment[0] += 1
        self._segment[1] += seconds
        best = self._best_seconds(count)
        steps, spent = self._segment
        hopeless = best is not None and spent / steps > self.give_up * best
        if not hopeless and spent < self.segment_s:
            return None
        totals = self._totals.setdefault(count, [0.0, 0.0])
        totals[0] += steps
        totals[1] += spent
        self._spent[count] = self._spent.get(count, 0.0) + spent
        self._segment = [0, 0.0]
        if hopeless:
            self._dropped.add(count)
        self._plan = [c for c in self._plan[1:] if c not in self._dropped]
        if self._plan:
            self._switch_to(self._plan[0])
            return None
        left = {c: s / n for c, (n, s) in self._totals.items() if c not in self._dropped and n}
        fastest = min(left.values())
        few = min(self._totals[c][0] for c in left) < self.confident_steps   # a few slow steps: noise
        if not few:
            left = {c: t for c, t in left.items() if t <= self.clear * fastest}   # clearly slower: out
        close = sorted(left.values())[1] < self.refine * fastest if len(left) > 1 else False
        if len(left) > 1 and self._round + 1 < self.max_rounds and (self._round == 0 or close or few):
            # measure again in the opposite order (A B, B A, A B, …): a load that rises or falls
            # while they are compared treats them alike; close counts get more rounds
            self._round += 1
            order = self._order_of_round0()
            self._plan = [c for c in (order[::-1] if self._round % 2 else order) if c in left]
            self._switch_to(self._plan[0])
            return None
        return self._choose(left)

    def _order_of_round0(self) -> list[int]:
        return [self._before] + [c for c in self.candidates if c != self._before]

    def _choose(self, left: dict[int, float]) -> str | None:
        fastest = min(left.values())
        chosen = min(c for c, t in left.items() if t <= fastest * (1 + self.tie))
        if self._reason != "start" and self._before in left and left[self._before] <= fastest * (1 + self.switch):
            chosen = self._before   # a later look keeps the count in use unless another clearly beats it
        self._switch_to(chosen)
        self._reference = left[chosen]
        self._recent.clear()
        self.probes += 1
        changed = chosen != self._before
        if self._reason == "start" or changed:
            self.check_s = self.first_check_s
        else:
            self.check_s = min(self.max_check_s, self.check_s * 2)
        # a look costs at most ~5% of the time between looks: the time lost to counts slower than the
        # chosen one (a close count costs next to nothing, a hopeless one its single step)
        lost = sum(spent * max(0.0, 1 - self._reference * self._totals[c][0] / max(self._totals[c][1], 1e-12))
                   for c, spent in self._spent.items() if c != chosen)
        self._next_check = self._clock + max(self.check_s, 20 * lost)
        self.phase = "steady"
        why = self._explain(chosen)
        self.history.append((self._seen, chosen, why))
        self.looks.append(self._clock)
        return why if self._reason == "start" or changed else None

    # --- saying it ------------------------------------------------------------------------------
    def _explain(self, chosen: int) -> str:
        times = {c: s / n for c, (n, s) in self._totals.items() if n}
        ref = times[chosen]
        others = {c: t for c, t in times.items() if c != chosen}
        if self._reason == "start":
            head = _threads(chosen)
        elif chosen != self._before:
            head = f"{self._before} → {_threads(chosen)}"
        else:
            head = f"{_threads(chosen)} kept"
        if not others:
            return head
        runner = min(others, key=others.get)
        ratio = others[runner] / max(ref, 1e-12)
        more = any(c > chosen for c in times)
        load = self._load()
        busy = load is None or load >= 1 + self.cores / 2   # this run keeps about one core busy itself
        if chosen == max(times):
            cause = "the cores are free" if not busy else "more threads get a larger share of the busy machine"
        elif more and ratio >= 1 + self.tie and busy:
            cause = "the machine is busy"
        else:
            cause = "more threads gain nothing for this model"
        if ratio >= 1 + self.tie:
            detail = f"{_threads(chosen)} train{'s' if chosen == 1 else ''} {ratio:.1f}× faster than {runner} right now"
        else:
            detail = f"{_threads(runner)} measured no faster"
        return f"{head}: {cause} ({detail}; measured while training, checked again as training goes)"


def tuner_for(setting: int, threads_now: int, device_type: str, world: int = 1) -> ThreadTuner | None:
    """A tuner when threads are automatic on the CPU and nobody fixed a count (the setting,
    OMP_NUM_THREADS in a single process, GENSTUDIO_THREAD_PROBE=0); `threads_now` is the count
    automatic gave (one per physical core, or this process's share of them when several processes
    train: each adapts within its share). It sets the thread count it starts with."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if setting or device_type != "cpu" or not probing_enabled() or threads_now <= 1:
        return None
    if world == 1 and env.isdigit() and int(env) > 0:
        return None
    return ThreadTuner(threads_now, start=1)  # the safe count first: on a busy machine more can be far slower


def chosen_count(message: str) -> int | None:
    """The count a tuner's sentence says it chose ('2 → 1 thread: …' gives 1), else None."""
    found = re.match(r"\s*(?:\d+ → )?(\d+) threads?\b", message)
    return int(found.group(1)) if found else None
