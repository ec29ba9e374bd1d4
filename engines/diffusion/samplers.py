"""Samplers for a trained diffusion network, all with one contract (as in diffusers):

    scheduler = DDIMScheduler(schedule, prediction, eta=0.0)
    scheduler.set_timesteps(50)                    # which of the T training steps to visit
    for t in scheduler.timesteps:                  # noisiest first
        x = scheduler.step(network(x, t), t, x, generator)

`denoise` is that loop, once, for every scheduler; it also reports progress, keeps snapshots of
the path, and lets a caller constrain x after each step (inpainting).

DDPM ancestral sampling (Ho et al. 2020) draws x_{t'} from the posterior q(x_{t'} | x_t, x0_hat),
with the betas re-derived for the visited steps when fewer than T are used. DDIM (Song et al.
2021) moves along the predicted noise direction with a chosen amount eta of fresh noise; eta = 0 is
a deterministic map, which can also be run backwards (image -> noise, `invert`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .schedule import NoiseSchedule

SAMPLERS = ("ddim", "ancestral")

# network(x_t, t) -> raw output (eps or v); t is a python int shared by the batch.
Denoiser = Callable[[torch.Tensor, int], torch.Tensor]


def spaced_timesteps(total: int, steps: int) -> list[int]:
    """`steps` timesteps from T-1 down to 0, evenly spread (both ends kept, so the first step starts
    from pure noise and the last lands on the data)."""
    steps = max(1, min(int(steps), total))
    if steps == 1:
        return [total - 1]
    picked = np.unique(np.round(np.linspace(0, total - 1, steps)).astype(np.int64))
    return [int(t) for t in picked[::-1]]


class Scheduler:
    """Common state: the schedule, the prediction type and the timesteps chosen by set_timesteps."""
    label = ""   # what a person is told ("DDIM", "ancestral")

    def __init__(self, schedule: NoiseSchedule, prediction: str = "eps", clip: bool = True):
        self.schedule = schedule
        self.prediction = prediction
        self.clip = clip
        self.timesteps: list[int] = []
        self._prev: dict[int, int] = {}
        self.set_timesteps(len(schedule))

    def set_timesteps(self, steps: int) -> None:
        self.timesteps = spaced_timesteps(len(self.schedule), steps)
        self._prev = {t: (self.timesteps[i + 1] if i + 1 < len(self.timesteps) else -1)
                      for i, t in enumerate(self.timesteps)}

    def set_timesteps_from(self, start: int, steps: int) -> None:
        """Visit `steps` timesteps from `start` (a noise level part-way, e.g. to denoise or edit an
        image) down to 0, evenly spread; the reverse process then starts at x_start."""
        start = max(0, min(int(start), len(self.schedule) - 1))
        steps = max(1, min(int(steps), start + 1))
        picked = np.unique(np.round(np.linspace(0, start, steps)).astype(np.int64)) if steps > 1 else np.array([start])
        self.timesteps = [int(t) for t in picked[::-1]]
        self._prev = {t: (self.timesteps[i + 1] if i + 1 < len(self.timesteps) else -1)
                      for i, t in enumerate(self.timesteps)}

    def previous(self, t: int) -> int:
        """The timestep a step from t lands on (-1: the clean image)."""
        return self._prev[int(t)]

    def predict(self, output: torch.Tensor, t: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.schedule.split(self.prediction, output, x, t, clip=self.clip)

    def step(self, output: torch.Tensor, t: int, x: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError


def _noise_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Fresh noise drawn on the CPU from `generator` (same numbers on every device)."""
    return torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)


class DDIMScheduler(Scheduler):
    label = "DDIM"

    def __init__(self, schedule: NoiseSchedule, prediction: str = "eps", eta: float = 0.0, clip: bool = True):
        self.eta = float(eta)
        super().__init__(schedule, prediction, clip)

    def step(self, output, t, x, generator=None):
        x0, eps = self.predict(output, t, x)
        prev = self.previous(t)
        ab = self.schedule.alpha_bar_at(t, x)
        ab_prev = self.schedule.alpha_bar_at(prev, x)
        # sigma^2 = eta^2 * posterior variance of the (possibly strided) step (Song et al., eq. 16)
        sigma = self.eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).clamp(min=0).sqrt()
        direction = (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * eps
        x_prev = ab_prev.sqrt() * x0 + direction
        if self.eta > 0 and prev >= 0:
            x_prev = x_prev + sigma * _noise_like(x, generator)
        return x_prev

    def invert_step(self, output: torch.Tensor, t_from: int, x: torch.Tensor, t_to: int) -> torch.Tensor:
        """One deterministic DDIM step towards more noise: x at t_from -> x at t_to (t_to > t_from).

        Uses the prediction made at the less noisy point (the usual approximation of the ODE);
        no clipping, so the step is the exact mirror of an unclipped generation step."""
        x0, eps = self.schedule.split(self.prediction, output, x, t_from, clip=False)
        ab_to = self.schedule.alpha_bar_at(t_to, x)
        return ab_to.sqrt() * x0 + (1 - ab_to).sqrt() * eps


class AncestralScheduler(Scheduler):
    """DDPM: sample from q(x_prev | x_t, x0_hat) = N(mean, beta_tilde); beta_tilde is the posterior
    variance (Ho et al.'s sigma^2 = beta_tilde choice)."""
    label = "ancestral"

    def step(self, output, t, x, generator=None):
        x0, _ = self.predict(output, t, x)
        prev = self.previous(t)
        ab = self.schedule.alpha_bar_at(t, x)
        ab_prev = self.schedule.alpha_bar_at(prev, x)
        beta = 1 - ab / ab_prev                      # the step's beta when steps are skipped
        mean = (ab_prev.sqrt() * beta / (1 - ab)) * x0 + ((1 - beta).sqrt() * (1 - ab_prev) / (1 - ab)) * x
        if prev < 0:
            return mean
        variance = beta * (1 - ab_prev) / (1 - ab)
        return mean + variance.sqrt() * _noise_like(x, generator)


def make_scheduler(name: str, schedule: NoiseSchedule, prediction: str, steps: int, eta: float = 0.0) -> Scheduler:
    if name == "ddim":
        scheduler: Scheduler = DDIMScheduler(schedule, prediction, eta)
    elif name == "ancestral":
        scheduler = AncestralScheduler(schedule, prediction)
    else:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, not {name!r}")
    scheduler.set_timesteps(steps)
    return scheduler


def denoise(network: Denoiser, scheduler: Scheduler, x: torch.Tensor, generator: torch.Generator | None = None,
            progress: Callable[[int, int], None] | None = None,
            keep: set[int] | None = None,
            constrain: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
            ) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """Run `scheduler` from x (noise at its first timestep) to the clean image.

    keep: step indices (0 = the starting noise, len(timesteps) = the result) whose x to return as
    snapshots (timestep, x); constrain(x, t_prev) may overwrite parts of x after each step (-1 at the end).
    progress(done, total) is called after each step and may raise to stop.
    """
    snapshots: list[tuple[int, torch.Tensor]] = []
    keep = keep or set()
    total = len(scheduler.timesteps)
    if 0 in keep:
        snapshots.append((scheduler.timesteps[0], x.clone()))
    for i, t in enumerate(scheduler.timesteps):
        x = scheduler.step(network(x, t), t, x, generator)
        if constrain is not None:
            x = constrain(x, scheduler.previous(t))
        if i + 1 in keep:
            snapshots.append((scheduler.previous(t), x.clone()))
        if progress is not None:
            progress(i + 1, total)
    return x, snapshots


def invert(network: Denoiser, scheduler: DDIMScheduler, image: torch.Tensor,
           progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Deterministic DDIM inversion: clean image -> the noise that DDIM (eta = 0) maps back onto it.

    The image stands in for x at the least noisy visited timestep (t = 0, where alpha_bar is within
    1e-4 of 1), then the scheduler's timesteps are walked upwards."""
    ascending = scheduler.timesteps[::-1]
    x = image
    for i in range(len(ascending) - 1):
        x = scheduler.invert_step(network(x, ascending[i]), ascending[i], x, ascending[i + 1])
        if progress is not None:
            progress(i + 1, len(ascending) - 1)
    return x
