"""Noise schedules and prediction targets for Gaussian diffusion (Ho et al. 2020; Nichol & Dhariwal 2021).

Timesteps are 0-based: t = 0 is the least noisy step, so alpha_bar[0] = 1 - beta[0] (the papers'
alpha_bar_1), and t = T - 1 the noisiest. x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps.

Prediction targets (Salimans & Ho 2022 for v):
    eps:  the network predicts the added noise
    v:    v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0, which keeps the target's scale steady
          across t and behaves better at the very noisy end.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("eps", "v")


def linear_betas(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Ho et al.'s schedule; the endpoints are given for T = 1000 and rescaled for other T so the
    total amount of noise (and so alpha_bar at the end) stays about the same."""
    scale = 1000.0 / timesteps
    return torch.linspace(beta_start * scale, min(beta_end * scale, 0.999), timesteps, dtype=torch.float64)


def cosine_alpha_bar(timesteps: int, offset: float = 0.008) -> torch.Tensor:
    """alpha_bar(t) = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), for t = 1..T."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
    return f[1:] / f[0]


def cosine_betas(timesteps: int, offset: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Betas of the cosine schedule; clipped at max_beta because the last one would be 1 (no signal)."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


class NoiseSchedule:
    """beta_t and alpha_bar_t for t = 0..T-1 (float64 on the CPU; gathered per batch on demand)."""

    def __init__(self, kind: str = "linear", timesteps: int = 1000, beta_start: float = 1e-4,
                 beta_end: float = 0.02):
        if kind not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {kind!r}")
        if timesteps < 2:
            raise ValueError("a schedule needs at least 2 timesteps")
        self.kind = kind
        self.timesteps = int(timesteps)
        self.betas = (linear_betas(timesteps, beta_start, beta_end) if kind == "linear"
                      else cosine_betas(timesteps))
        self.alpha_bar = torch.cumprod(1 - self.betas, dim=0)

    def __len__(self) -> int:
        return self.timesteps

    # --- per-timestep coefficients --------------------------------------------------------------------
    def alpha_bar_at(self, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """alpha_bar_t shaped (B, 1, 1, 1) to broadcast over `like`; t = -1 means 'no noise' (1.0)."""
        t = torch.as_tensor(t).reshape(-1).cpu().long()
        ab = torch.where(t >= 0, self.alpha_bar[t.clamp(min=0)], torch.ones((), dtype=torch.float64))
        return ab.to(like.device, like.dtype).reshape(-1, *([1] * (like.dim() - 1)))

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) per timestep (float32)."""
        ab = self.alpha_bar[torch.as_tensor(t).cpu().long()]
        return (ab / (1 - ab)).float()

    # --- forward process ----------------------------------------------------------------------------------
    def add_noise(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.alpha_bar_at(t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    def target(self, prediction: str, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the network should output for `prediction`."""
        if prediction == "eps":
            return eps
        if prediction == "v":
            ab = self.alpha_bar_at(t, x0)
            return ab.sqrt() * eps - (1 - ab).sqrt() * x0
        raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, not {prediction!r}")

    def split(self, prediction: str, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int,
              clip: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, eps) implied by a network output at (x_t, t).

        With clip, x0 is clamped to the data range [-1, 1] and eps recomputed from it, so that a
        wild early prediction cannot push the sampler outside the range the data lives in.
        """
        ab = self.alpha_bar_at(t, x_t)
        sa, so = ab.sqrt(), (1 - ab).sqrt()
        if prediction == "eps":
            eps = output
            x0 = (x_t - so * eps) / sa
        elif prediction == "v":
            x0 = sa * x_t - so * output
            eps = so * x_t + sa * output
        else:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, not {prediction!r}")
        if clip:
            x0 = x0.clamp(-1, 1)
            eps = (x_t - sa * x0) / so
        return x0, eps

    # --- loss weighting ---------------------------------------------------------------------------------------
    def min_snr_weight(self, t: torch.Tensor, gamma: float, prediction: str) -> torch.Tensor:
        """Min-SNR-gamma weights (Hang et al. 2023), expressed for the chosen target.

        The idea is to weight the x0-error by min(SNR, gamma); an eps-error already carries a factor
        SNR, a v-error a factor SNR + 1, so those are divided out."""
        snr = self.snr(t)
        clipped = snr.clamp(max=gamma)
        return clipped / snr if prediction == "eps" else clipped / (snr + 1)
