"""Automatic CPU threads that measure instead of assume.

One thread per physical core is fastest only while nothing else runs: on a busy machine (a browser,
a second run, the studio's own window) two threads fighting other work for two cores can train
several times slower than one. So with `threads` = 0 the loop hands every training step's duration
to a ThreadTuner, which

- warms up first at one thread (the first steps are slow whatever the count: lazy set-up, the
  allocator, optimiser state) for `warmup_steps` steps and `warmup_s` seconds, none of which it
  measures, nor the first step at any other count (it starts OpenMP's threads);
- then tries the candidate counts (1, 2, 4, … and the core count) in segments of at least
  `segment_s` seconds and `segment_steps` steps each (or `segment_max_s` seconds when steps are
  slow), in rounds of paired, alternated order (A B, then B A, …: a load that rises or falls during
  the probe treats every count alike); a count whose first step is far slower than the best so far
  is dropped at once (`give_up`: a hopeless count costs one step), one `clear`ly slower over at least
  `confident_steps` steps ends its segment there and is dropped after the round (fewer threads only
  after two rounds unless the cores more would use were idle); where the cores more threads would use
  were seen busy, more threads get no allowance: their first step counts and one `clear`ly slower
  step drops them from the look;
- decides between the two fastest left with a sequential test on the rounds' speed ratios (each
  round compares the counts measured next to each other in time): after `min_rounds` rounds, more
  threads when their gain is surely above what they need (the mean log ratio over the rounds, less
  Student's t one-sided 90% quantile times its standard error, above it), fewer when it is surely
  below, else another round, up to `max_rounds`; then the mean decides and the choice is looked at
  again sooner. The gain needed for more threads is asymmetric: a `tie` (2%) when the
  cores more threads would use were idle while fewer threads trained (system-wide idle CPU time of
  the CPUs this process may use, from /proc/stat, is an independent witness of a free machine), but
  `busy_gain` (10%) when they were not or it cannot be read: on a busy machine a wrong "more" can
  cost several times the speed, a wrong "fewer" on a quiet one only the modest gain it misses;
- on a later look keeps the count in use unless the test is confident another is better by more
  than `switch` (so it does not flap between close counts); a periodic look at a sure choice is one
  round, which goes on to the full test only when another count measured faster by more than
  `switch` or the cores went from free to busy or back;
- looks again `first_check_s` seconds of stepping after a choice (the interval doubles up to
  `max_check_s` while a choice stands; half that after an unsure choice),
  and at once when the last `window_s` seconds of steps are `drift` times slower or faster than the
  kept count measured (another job started or ended), when one step at more threads than the fewest
  is far slower (`give_up` × `drift`), and when fewer threads were chosen on a busy machine and the
  cores they leave turn idle (the other job ended: their speed need not change); such looks that
  change nothing space out (`drift_gap_s`, doubling up to `max_drift_gap_s`, and never costing over
  ~5% of the time between them), so a load that comes and goes does not keep measuring a count that
  loses.

Only the counts it is not keeping cost anything, and only while measured (close counts, the ones
that need many rounds, cost little each). Probing steps are real training steps (counted in the step
and time budgets); they change results only as the thread count itself does (floating-point sums
split differently). A fixed `threads` setting, or OMP_NUM_THREADS, is taken as given and never
probed; GENSTUDIO_THREAD_PROBE=0 keeps automatic at one thread per core without probing (the test
suite sets it: runs it compares must not depend on the machine's load).

The tuner has no clock of its own: it sums the step times it is given and reads idle CPU time
through a function it is given, so its decisions can be tested with a made-up machine.
"""

from __future__ import annotations

import math
import os
import re
from collections import deque
from typing import Callable

from .cpu_load import cpu_idle  # noqa: F401 - the tuner's default witness of idle cores (tests read it here too)

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


# one-sided 90% quantiles of Student's t for 1, 2, … degrees of freedom (beyond the table: its last)
_T90 = (3.078, 1.886, 1.638, 1.533, 1.476, 1.440, 1.415, 1.397, 1.383)


class ThreadTuner:
    """Feed it each step's wall time with step_done(); it sets the thread count for the next step and
    returns a sentence for a person when its choice is worth saying (else None)."""

    def __init__(self, cores: int, *, start: int | None = 1, warmup_steps: int = 3, warmup_s: float = 0.3,
                 segment_s: float = 0.3, segment_steps: int = 3, segment_max_s: float = 1.0,
                 clear: float = 1.3, min_rounds: int = 2, max_rounds: int = 6, confident_steps: int = 2,
                 tie: float = 0.02, busy_gain: float = 0.10, free_share: float = 0.6, switch: float = 0.06,
                 give_up: float = 2.0, first_check_s: float = 10.0, max_check_s: float = 160.0,
                 window_s: float = 1.0, drift: float = 1.3, drift_gap_s: float = 1.0, max_drift_gap_s: float = 32.0,
                 set_threads: Callable[[int], None] = _set_torch_threads,
                 load_average: Callable[[], float | None] = _load_average,
                 idle: Callable[[], tuple[float, float, int] | None] = cpu_idle):
        self.cores = max(1, cores)
        self.candidates = candidate_counts(cores)
        self.current = start if start in self.candidates else self.candidates[0]
        self.warmup_steps, self.warmup_s = warmup_steps, warmup_s
        self.segment_s, self.segment_steps, self.segment_max_s = segment_s, segment_steps, segment_max_s
        self.clear, self.tie, self.switch, self.give_up = clear, tie, switch, give_up
        self.busy_gain, self.free_share = busy_gain, free_share
        self.min_rounds, self.max_rounds, self.confident_steps = min_rounds, max_rounds, confident_steps
        self.first_check_s, self.max_check_s, self.check_s = first_check_s, max_check_s, first_check_s
        self.window_s, self.drift = window_s, drift
        self.drift_gap_s, self.max_drift_gap_s, self._drift_gap = drift_gap_s, max_drift_gap_s, drift_gap_s
        self._next_drift = 0.0           # no look for a change of speed before this (seconds of stepping)
        self._set, self._load, self._idle_now = set_threads, load_average, idle
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
        self._order0: list[int] = []     # the first round's order (later rounds alternate it)
        self._rounds: list[dict[int, tuple[int, float]]] = []   # per round: count -> (steps, seconds)
        self._spent: dict[int, float] = {}          # count -> seconds of this probe's steps at it
        self._idle: dict[int, list[float]] = {}     # count -> [idle, total, cpus] while it trained
        self._mark: tuple[float, float, int] | None = None   # idle time when the segment began
        self._marks: deque[tuple[float, tuple[float, float, int] | None]] = deque(maxlen=3)   # steady: (clock, idle)
        self._dropped: set[int] = set()
        self._segment = [0, 0.0]         # steps, seconds of the segment under way
        self.probes = 0
        self.history: list[tuple[int, int, str]] = []  # (steps seen, count, why) at each choice
        self.looks: list[float] = []    # seconds of stepping at each choice
        self.reasons: list[str] = []    # why each look was taken: start, periodic, slower, faster
        self.time_at: dict[int, list[float]] = {}   # count -> [steps, seconds] it trained
        self.last_test: dict | None = None   # the last decision's figures (for tests and the log)
        self._sure = False               # was the last choice sure (the test decided, or one count was clear)?
        self._free_then: bool | None = None   # were the cores free at the last choice (None: not measured)?
        self._quick = False              # this look only confirms a sure choice: one round unless in doubt

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
        at = self.time_at.setdefault(self.current, [0, 0.0])
        at[0] += 1
        at[1] += seconds
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
        if not self._marks or self._clock - self._marks[-1][0] >= self.window_s / 2:
            self._marks.append((self._clock, self._idle_now()))   # for a look seeded with these steps
        self._recent.append(seconds)
        total = sum(self._recent)
        while len(self._recent) > 3 and total - self._recent[0] >= self.window_s:
            total -= self._recent.popleft()
        if self._reference and self.current > self.candidates[0] and seconds > self.give_up * self.drift * self._reference:
            self._begin_probe("slower")   # one step far slower at more threads: oversubscribed now?
            return None
        if self._reference and len(self._recent) >= 3 and total >= self.window_s and self._clock >= self._next_drift:
            mean = total / len(self._recent)
            if mean > self.drift * self._reference:
                self._begin_probe("slower")
                return None
            if mean * self.drift < self._reference:
                self._begin_probe("faster", seed=(len(self._recent), total))
                return None
        if (self._free_then is False and self.current < self.candidates[-1] and len(self._marks) >= 3
                and self._clock >= self._next_drift and total >= self.segment_s):
            # fewer threads were chosen on a busy machine: when the cores they leave turn idle, look
            then, now = self._marks[0][1], self._marks[-1][1]
            if then is not None and now is not None and now[1] > then[1]:
                idle = now[2] * (now[0] - then[0]) / (now[1] - then[1])
                if idle >= self.free_share * (self.candidates[-1] - self.current):
                    self._begin_probe("freed", seed=(len(self._recent), total))
                    return None
        if self._clock >= self._next_check:
            seed = (len(self._recent), total) if total >= self.segment_s else None
            self._begin_probe("periodic", seed=seed)
        return None

    # --- probing --------------------------------------------------------------------------------
    def _begin_probe(self, reason: str, seed: tuple[int, float] | None = None) -> None:
        """Measure every candidate, the count in use first. `seed`: the count in use was just measured
        while training (steps, seconds), so the probe starts with the others. After a slowdown the
        fewest threads go first and nothing is seeded: steps picked for being slow would make the
        count in use look worse than it is, and where that is more threads than the fewest, their
        next step is then measured against the fewest (a hopeless count costs one step)."""
        self.phase, self._reason, self._before = "probe", reason, self.current
        self._quick = reason == "periodic" and self._sure
        self._order0 = sorted(self.candidates) if reason == "slower" else self._order_of_round0()
        order = list(self._order0)
        self._rounds, self._dropped, self._spent, self._idle = [{}], set(), {}, {}
        if seed is not None:
            self._rounds[0][self.current] = (int(seed[0]), float(seed[1]))
            order = order[1:]
            then, now = (self._marks[0][1] if self._marks else None), self._idle_now()
            if then is not None and now is not None and now[1] > then[1]:   # idle while the seed trained
                self._idle[self.current] = [now[0] - then[0], now[1] - then[1], float(now[2])]
        self._marks.clear()
        self._plan = order
        self._begin_segment(self._plan[0])

    def _order_of_round0(self) -> list[int]:
        return [self._before] + [c for c in self.candidates if c != self._before]

    def _begin_segment(self, n: int) -> None:
        if n != self.current:
            self._set(n)
            self.current = n
        self._segment = [0, 0.0]
        self._mark = self._idle_now()

    def _end_segment(self, count: int, steps: int, spent: float) -> None:
        self._rounds[-1][count] = (steps, spent)
        self._spent[count] = self._spent.get(count, 0.0) + spent
        now = self._idle_now()
        if self._mark is not None and now is not None and now[1] > self._mark[1]:
            acc = self._idle.setdefault(count, [0.0, 0.0, float(now[2])])
            acc[0] += now[0] - self._mark[0]
            acc[1] += now[1] - self._mark[1]

    def _totals(self) -> dict[int, list[float]]:
        totals: dict[int, list[float]] = {}
        for measured in self._rounds:
            for c, (n, s) in measured.items():
                t = totals.setdefault(c, [0.0, 0.0])
                t[0] += n
                t[1] += s
        return totals

    def _best_seconds(self, other_than: int) -> float | None:
        rates = [s / n for c, (n, s) in self._totals().items() if c != other_than and c not in self._dropped and n]
        return min(rates, default=None)

    def _busy_below(self, count: int) -> bool:
        """Were the cores that `count` threads would add busy while fewer trained in this probe?"""
        fewer = [c for c in self._idle if c < count]
        return bool(fewer) and self._cores_free(max(fewer), count) is False

    def _probe_step(self, seconds: float) -> str | None:
        count = self.current
        # on a machine seen busy, more threads get no allowance: their first step counts, and one
        # `clear`ly slower step drops them from this look (a wrong "more" costs most there)
        busy = self._busy_below(count)
        give_up = self.clear if busy else self.give_up
        if count not in self._used:   # its first step starts OpenMP's threads: not a measure of the count,
            self._used.add(count)     # unless it is hopeless anyway
            best = self._best_seconds(count)
            if not busy and (best is None or seconds <= give_up * best):
                return None
        self._segment[0] += 1
        self._segment[1] += seconds
        best = self._best_seconds(count)
        steps, spent = self._segment
        hopeless = best is not None and spent / steps > give_up * best
        enough = spent >= self.segment_s and (steps >= self.segment_steps or spent >= self.segment_max_s)
        clearly_slower = best is not None and steps >= self.confident_steps and spent / steps > self.clear * best
        if not (hopeless or enough or clearly_slower):
            return None
        self._end_segment(count, steps, spent)
        if hopeless:
            self._dropped.add(count)
        self._plan = [c for c in self._plan[1:] if c not in self._dropped]
        if self._plan:
            self._begin_segment(self._plan[0])
            return None
        return self._after_round()

    def _after_round(self) -> str | None:
        totals = self._totals()
        left = {c: s / n for c, (n, s) in totals.items() if c not in self._dropped and n}
        fastest = min(left.values())
        if min(totals[c][0] for c in left) >= self.confident_steps:   # (a few slow steps: noise)
            # clearly slower: out; but fewer threads only after a second round (A B B A) unless the
            # cores more would use were idle: one round's "more threads are faster" on a busy
            # machine may be a burst of other work during the fewer threads' segment
            best = min(left, key=left.get)
            left = {c: t for c, t in left.items() if t <= self.clear * fastest
                    or not (c > best or len(self._rounds) >= self.min_rounds or self._cores_free(c, best))}
        if len(left) == 1:
            return self._choose(next(iter(left)), left, confident=True)
        lo, hi = sorted(sorted(left, key=left.get)[:2])
        test = self._test(lo, hi, left)
        self.last_test = test
        if self._quick and self._before in left:
            # a periodic look at a sure choice: one round confirms it unless another count measured
            # faster by more than `switch` or the cores' state changed; then the full test
            rival = min(t for c, t in left.items() if c != self._before)
            changed = test["free"] is not None and self._free_then is not None and test["free"] != self._free_then
            if rival * (1 + self.switch) >= left[self._before] and not changed:
                return self._choose(self._before, left, confident=True)
            self._quick = False
        if test["verdict"] is None and len(self._rounds) < self.max_rounds:
            # measure again in the opposite order (A B, B A, A B, …): a load that rises or falls
            # while they are compared treats them alike
            order = [c for c in self._order0 if c in left]
            self._rounds.append({})
            self._plan = order[::-1] if len(self._rounds) % 2 == 0 else order
            self._begin_segment(self._plan[0])
            return None
        if test["verdict"] is None:   # as many rounds as a look may take: the mean decides
            return self._choose(hi if test["mean"] > test["needed"] else lo, left, confident=False)
        return self._choose(test["verdict"], left, confident=True)

    def idle_cores(self, count: int) -> float | None:
        """Idle cores (of those this process may use) measured while `count` threads trained."""
        acc = self._idle.get(count)
        return acc[2] * acc[0] / acc[1] if acc and acc[1] > 0 else None

    def _cores_free(self, lo: int, hi: int) -> bool | None:
        """Were the cores that `hi` threads would add idle while `lo` trained? None: not measured."""
        idle = self.idle_cores(lo)
        return None if idle is None else idle >= self.free_share * (hi - lo)

    def _test(self, lo: int, hi: int, left: dict[int, float]) -> dict:
        """The sequential test: log of how much faster `hi` threads train than `lo`, one figure per
        round that measured both, against the gain more threads need."""
        d = [math.log((r[lo][1] / r[lo][0]) / (r[hi][1] / r[hi][0]))
             for r in self._rounds if lo in r and hi in r and r[lo][0] and r[hi][0] and r[hi][1] > 0]
        k = len(d)
        mean = sum(d) / k if k else math.log(left[lo] / left[hi])
        se = math.sqrt(sum((x - mean) ** 2 for x in d) / (k - 1) / k) if k >= 2 else math.inf
        free = self._cores_free(lo, hi)
        needed = math.log1p(self.tie if free else self.busy_gain)
        spread = _T90[min(k - 1, len(_T90)) - 1] * se if k >= 2 else math.inf   # k - 1 degrees of freedom
        verdict = None
        if k >= self.min_rounds and mean - spread > needed:
            verdict = hi
        elif k >= self.min_rounds and mean + spread < needed:
            verdict = lo
        return {"lo": lo, "hi": hi, "rounds": k, "mean": mean, "spread": spread, "needed": needed,
                "free": free, "verdict": verdict}

    def _choose(self, chosen: int, left: dict[int, float], confident: bool) -> str | None:
        test = self.last_test if len(left) > 1 else None
        if (self._reason != "start" and chosen != self._before and self._before in left
                and (not confident or (test is not None and abs(test["mean"] - test["needed"]) < math.log1p(self.switch)))):
            chosen = self._before   # a later look keeps the count in use unless another surely beats it
        self._switch_to(chosen)
        self._reference = left[chosen]
        self._sure = confident
        if self._idle:   # the cores' state at this choice: were more threads' cores idle at the fewest?
            fewest = min(self._idle)
            self._free_then = self._cores_free(fewest, self.candidates[-1]) if fewest < self.candidates[-1] else None
        self._recent.clear()
        self.probes += 1
        changed = chosen != self._before
        if self._reason == "start" or changed:
            self.check_s = self.first_check_s
        else:
            self.check_s = min(self.max_check_s, self.check_s * 2)
        interval = self.check_s if confident else self.check_s / 2   # unsure: look again sooner
        # a look costs at most ~5% of the time between looks: the time lost to counts slower than the
        # chosen one (a close count costs next to nothing, a hopeless one its single step)
        totals = self._totals()
        lost = sum(spent * max(0.0, 1 - self._reference * totals[c][0] / max(totals[c][1], 1e-12))
                   for c, spent in self._spent.items() if c != chosen)
        self._next_check = self._clock + max(interval, 20 * lost)
        if self._reason in ("slower", "faster", "freed"):
            # a change of speed that changed nothing (a load that comes and goes): the next such look
            # waits twice as long, and like any look costs at most ~5% of the time until the next
            self._drift_gap = self.drift_gap_s if changed else min(self.max_drift_gap_s, 2 * self._drift_gap)
            self._next_drift = self._clock + max(self._drift_gap, 20 * lost)
        elif changed:
            self._drift_gap = self.drift_gap_s
        self.phase = "steady"
        why = self._explain(chosen, test, confident)
        self.history.append((self._seen, chosen, why))
        self.looks.append(self._clock)
        self.reasons.append(self._reason)
        return why if self._reason == "start" or changed else None

    def _switch_to(self, n: int) -> None:
        if n != self.current:
            self._set(n)
            self.current = n

    # --- saying it ------------------------------------------------------------------------------
    def _explain(self, chosen: int, test: dict | None, confident: bool) -> str:
        times = {c: s / n for c, (n, s) in self._totals().items() if n}
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
        ratio = others[runner] / max(ref, 1e-12)   # > 1: the chosen count is faster
        lo = min(chosen, runner)
        free = self._cores_free(lo, max(chosen, runner))
        if free is None:   # idle time not measured: the load average says how busy the machine is
            load = self._load()
            free = load is not None and load < 1 + self.cores / 2   # this run keeps about one core busy
        if chosen == max(times):
            cause = "the cores are free" if free else "more threads get a larger share of the busy machine"
        elif ratio >= 1 + self.tie:
            cause = "the machine is busy" if not free else "more threads gain nothing for this model"
        elif runner > chosen and 1 / ratio >= 1 + self.tie and not free:
            cause = "more threads gain too little on a busy machine"
        else:
            cause = "more threads gain nothing for this model" if free else "more threads gain nothing on the busy machine"
        if ratio >= 1 + self.tie:
            detail = f"{_threads(chosen)} train{'s' if chosen == 1 else ''} {_times(ratio)} faster than {runner} right now"
        elif 1 / ratio >= 1 + self.tie:
            detail = f"{_threads(runner)} measured {_times(1 / ratio)} faster"
        else:
            detail = f"{_threads(runner)} measured no faster"
        rounds = len(self._rounds)
        how = f"{rounds} alternated round{'s' if rounds != 1 else ''}{'' if confident else ', not sure yet'}"
        idle = self.idle_cores(lo)
        if idle is not None:
            how += f", {idle:.1f} idle core{'s' if round(idle, 1) != 1 else ''} at {lo}"
        return f"{head}: {cause} ({detail}; {how}; checked again as training goes)"


def _times(ratio: float) -> str:
    return f"{ratio:.2f}×" if ratio < 2 else f"{ratio:.1f}×"

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
