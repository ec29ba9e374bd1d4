"""When the loop draws the sample grid: every `sample_every` steps as set, and, so a person sees the
model take shape from the first seconds on a slow machine, also after `sample_seconds` of training
time since the last grid, that gap doubling after each grid. Sampling stays a small share of the
training time: a grid that took G seconds waits at least G * (1 - share) / share of training before
the next time-based one. Time-based grids never change training: the loop draws them with the
random state set aside (see Trainer._sample_events)."""

from __future__ import annotations


class SampleSchedule:
    def __init__(self, every_steps: int, first_s: float, share: float = 0.1, growth: float = 2.0):
        self.every_steps, self.first_s, self.share, self.growth = int(every_steps), float(first_s), share, growth
        self.gap_s = self.first_s
        self._last_s = 0.0   # training seconds at the last grid
        self.last_step: int | None = None  # the step of the last grid drawn by the schedule

    def reset(self, train_seconds: float, step: int) -> None:
        """The grid drawn as the session begins, at this training time and step."""
        self._last_s, self.last_step = train_seconds, step

    def by_steps(self, step: int) -> bool:
        return bool(self.every_steps) and step % self.every_steps == 0

    def due(self, step: int, train_seconds: float, last_sampling_s: float | None) -> bool:
        """A grid now: `sample_every` says so, or the time-based gap has passed."""
        if self.by_steps(step):
            return True
        if not self.first_s or not self.every_steps:
            return False
        gap = self.gap_s
        if last_sampling_s:   # keep sampling at most `share` of the training time
            gap = max(gap, last_sampling_s * (1 - self.share) / self.share)
        return train_seconds - self._last_s >= gap

    def drawn(self, step: int, train_seconds: float) -> None:
        """A grid was drawn at `step`: time-based gaps grow (steps-based grids leave them be)."""
        if not self.by_steps(step):
            self.gap_s *= self.growth
        self._last_s, self.last_step = train_seconds, step
