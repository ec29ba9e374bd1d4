"""Automatic CPU threads that measure instead of assume.

One thread per physical core is fastest only while nothing else runs: on a busy machine (a browser,
a second run, the studio's own window) two threads fighting other work for two cores can train
several times slower than one. So with `threads` = 0 the loop hands every training step's duration
to a ThreadTuner, which

- starts at one thread (on a busy machine more can be many times slower), tries each candidate count
  (1, 2, 4, … and the core count) for a few steps after the first one and keeps the fastest (a tie within `tie` goes to fewer threads: they leave room for other work);
- tries again when steps get noticeably slower than what the kept count measured (`slowdown`), and
  every `check_s` seconds of stepping otherwise (the interval doubles up to `max_check_s` while the
  choice stands, as a freed machine is only noticed by trying);
- stops a try at once when its first steps are far slower than the best so far, so a probe costs a
  few steps.

Probing steps are real training steps (counted in the step and time budgets); they change results
only as the thread count itself does (floating-point sums split differently). A fixed `threads`
setting, or OMP_NUM_THREADS, is taken as given and never probed; GENSTUDIO_THREAD_PROBE=0 keeps
automatic at one thread per core without probing (the test suite sets it: runs it compares must not
depend on the machine's load).
"""

from __future__ import annotations

import os
import re
import statistics
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


class ThreadTuner:
    """Feed it each step's wall time with step_done(); it sets the thread count for the next step and
    returns a sentence for a person when its choice is worth saying (else None)."""

    def __init__(self, cores: int, *, start: int | None = None, tries: int = 3, warmup: int = 1,
                 check_s: float = 30.0, max_check_s: float = 240.0, slowdown: float = 1.35, tie: float = 0.05,
                 give_up: float = 2.5, set_threads: Callable[[int], None] = _set_torch_threads):
        self.candidates = candidate_counts(cores)
        self.current = start if start in self.candidates else self.candidates[-1]
        self.tries, self.warmup, self.slowdown, self.tie, self.give_up = tries, warmup, slowdown, tie, give_up
        self.first_check_s, self.max_check_s = check_s, max_check_s
        self.check_s = check_s
        self._set = set_threads
        self._set(self.current)
        self._seen = 0                  # steps seen
        self._clock = 0.0               # seconds of stepping so far (the tuner's own clock)
        self._next_check = 0.0
        self._queue: list[int] = []     # counts still to try in this probe
        self._times: list[float] = []   # step times of the count being tried
        self._scores: dict[int, float] = {}
        self._before = self.current     # the count in effect when this probe began
        self._reason = "start"
        self._reference: float | None = None  # the kept count's step time when it was chosen
        self._recent: list[float] = []
        self.probes = 0
        self.history: list[tuple[int, int, str]] = []  # (steps seen, count, why) at each choice

    @property
    def probing(self) -> bool:
        return bool(self._queue)

    def _begin_probe(self, reason: str) -> None:
        self._reason, self._before = reason, self.current
        # the first look goes up from one thread (a hopeless count is then given up after one step);
        # later looks start with the kept count, whose time is the one to beat
        self._queue = (list(self.candidates) if reason == "start"
                       else [self.current] + [c for c in self.candidates if c != self.current])
        self._times, self._scores = [], {}
        self._set(self._queue[0])
        self.current = self._queue[0]

    def step_done(self, seconds: float) -> str | None:
        self._seen += 1
        self._clock += seconds
        if len(self.candidates) == 1:
            return None
        if self._queue:
            return self._probe_step(seconds)
        if self._seen <= self.warmup:
            if self._seen == self.warmup:
                self._begin_probe("start")
            return None
        self._recent = (self._recent + [seconds])[-8:]
        if self._reference is not None and len(self._recent) == 8 \
                and statistics.median(self._recent) > self.slowdown * self._reference:
            self._begin_probe("slower")
        elif self._clock >= self._next_check:
            self._begin_probe("periodic")
        return None

    def _probe_step(self, seconds: float) -> str | None:
        self._times.append(seconds)
        best = min(self._scores.values(), default=None)
        hopeless = best is not None and min(self._times) > self.give_up * best
        if len(self._times) < self.tries and not hopeless:
            return None
        self._scores[self._queue.pop(0)] = statistics.median(self._times)
        self._times = []
        if self._queue:
            self._set(self._queue[0])
            self.current = self._queue[0]
            return None
        return self._choose()

    def _choose(self) -> str | None:
        fastest = min(self._scores.values())
        chosen = min(c for c, t in self._scores.items() if t <= fastest * (1 + self.tie))
        self._set(chosen)
        self.current, self._reference, self._recent = chosen, self._scores[chosen], []
        self.probes += 1
        changed = chosen != self._before
        self.check_s = self.first_check_s if changed else min(self.max_check_s, self.check_s * 2)
        if self._reason == "start":
            self.check_s = self.first_check_s
        self._next_check = self._clock + self.check_s
        why = self.explain(chosen)
        self.history.append((self._seen, chosen, why))
        if self._reason == "start" or changed:
            return why
        return None

    def explain(self, chosen: int) -> str:
        """What was chosen and why, from the last probe's step times."""
        return self._explain(chosen)

    def _explain(self, chosen: int) -> str:
        others = {c: t for c, t in self._scores.items() if c != chosen}
        ref = self._scores[chosen]
        if not others:
            return f"{_threads(chosen)}"
        runner = min(others, key=others.get)
        ratio = others[runner] / max(ref, 1e-12)
        cause = ("the machine is busy" if chosen < max(self._scores) and ratio >= 1 + self.tie
                 else "the cores are free" if chosen == max(self._scores)
                 else "more threads gain nothing here")
        head = (f"{self._before} → {_threads(chosen)}" if chosen != self._before
                else f"{_threads(chosen)} kept")
        if ratio >= 1 + self.tie:
            detail = f"{_threads(chosen)} train{'s' if chosen == 1 else ''} {ratio:.1f}× faster than {runner} right now"
        else:
            detail = f"{_threads(runner)} measured no faster"
        return f"{head}: {cause} ({detail}; measured over a few steps, checked again as training goes)"


def tuner_for(setting: int, threads_now: int, device_type: str, world: int = 1) -> ThreadTuner | None:
    """A tuner when threads are automatic on the CPU and nobody fixed a count (the setting,
    OMP_NUM_THREADS in a single process, GENSTUDIO_THREAD_PROBE=0); `threads_now` is the count
    automatic gave (one per physical core, or this process's share of them when several processes
    train: each adapts within its share)."""
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
