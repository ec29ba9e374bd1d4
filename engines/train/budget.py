"""How long a run trains: a step cap and, optionally, a time limit; and the one notion of the run's
planned length that schedules read.

    budget = Budget(steps=2000, time_limit=300.0, clock=time.perf_counter)
    budget.start()                       # the first step starts the clock
    total = budget.planned_steps(step)   # what a learning-rate decay or a growth schedule plans for
    if budget.out_of_time(): ...

Training time counts over every session of a run (a resumed run goes on from its checkpoint's
`train_seconds`), paused time not counted. Without a time limit the planned length is the step cap.
With one, it is the step the run will reach when its time is up at the rate measured so far
(steps / training seconds over the whole run), never more than the cap: it is re-estimated at every
step, so a schedule planned from it ends (a learning rate decays to zero, a growing network reaches
full size) when the time does, on a slow machine as on a fast one.
"""

from __future__ import annotations

import math
from typing import Callable

MIN_STEPS_TO_ESTIMATE = 2  # steps measured before the rate says anything about the run's length


class Budget:
    def __init__(self, steps: int, time_limit: float = 0.0, clock: Callable[[], float] | None = None,
                 seconds_before: float = 0.0):
        import time
        self.steps = int(steps)
        self.time_limit = float(time_limit or 0.0)
        self._clock = clock or time.perf_counter
        self.seconds_before = float(seconds_before)  # training time of earlier sessions
        self._start: float | None = None              # clock at this session's start, moved on by pauses

    # --- training time ------------------------------------------------------------------------
    def start(self) -> None:
        """This session's training time starts now (with the first step, as the logged `time` does)."""
        self._start = self._clock()

    @property
    def started(self) -> bool:
        return self._start is not None

    def exclude(self, seconds: float) -> None:
        """Paused time is not training time."""
        if self._start is not None:
            self._start += seconds

    def train_seconds(self) -> float:
        """Training time over all sessions of the run so far, paused time not counted."""
        if self._start is None:
            return self.seconds_before
        return self.seconds_before + self._clock() - self._start

    def out_of_time(self) -> bool:
        return bool(self.time_limit) and self.train_seconds() >= self.time_limit

    def seconds_left(self) -> float | None:
        return max(0.0, self.time_limit - self.train_seconds()) if self.time_limit else None

    # --- the planned length -------------------------------------------------------------------
    def planned_steps(self, step: int) -> int:
        """The step the run is planned to end at, seen at `step` (the steps done so far)."""
        if not self.time_limit or step < MIN_STEPS_TO_ESTIMATE:
            return self.steps
        spent = self.train_seconds()
        if spent <= 0:
            return self.steps
        at_end = step * self.time_limit / spent
        if not math.isfinite(at_end):
            return self.steps
        return int(min(self.steps, max(step + 1, round(at_end))))

    def eta(self, step: int, seconds_per_step: float) -> float:
        """Seconds until whichever limit comes first."""
        eta = seconds_per_step * max(0, self.steps - step)
        left = self.seconds_left()
        return eta if left is None else max(0.0, min(eta, left))
