"""Flow matching with the straight (rectified-flow) path: Lipman et al. 2023, Liu et al. 2023.

Not the normalizing flows (realnvp, glow): here a network learns a velocity field that carries noise
to images along straight lines, and sampling integrates that field with a few ODE steps.

Path: x_t = (1 - t) x0 + t eps, t in [0, 1] (t = 0 the image, t = 1 pure noise; the convention of
Esser et al. 2024). Its velocity dx_t/dt = eps - x0 is what the U-Net predicts, with a plain mean
squared error. Training times are drawn logit-normal (t = sigmoid(m + s n), n ~ N(0, 1); Esser et
al.), which puts the effort on the middle of the path, where the velocity is hardest to predict;
uniform is the original choice.

Sampling integrates dx/dt = v(x, t) from t = 1 (noise) to t = 0 on an even time grid, with Euler
(one network pass per step) or Heun (two: the average of the velocities at both ends of the step).
Straight paths make few steps enough. `noise` > 0 makes it stochastic: after each step's velocity
the implied image x0 = x - t v and noise eps = x + (1 - t) v are recombined at the next time with
part of eps replaced by fresh noise ((1 - t') x0 + t' (sqrt(1 - a^2) eps + a z)); at 0 this is
exactly the Euler/Heun step. The ODE runs backwards too (image -> noise), which is how real images
reach the Latent panel's latent space.

The U-Net, its weight average, label dropout and classifier-free guidance are ddpm's
(engines/families/ddpm.py, UNetPrior); the network sees t scaled to 0..1000, the range its time
embedding was made for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import param
from ..registry import Family
from .base import Batch, DataSpec, ProgressFn, to_uint8
from .capabilities import DenoisingPath, Exportable, ExportedNetwork, LatentCodec, Prior, Sampler
from .ddpm import UNetPrior, UNetPriorConfig, preset

TIME_SAMPLINGS = ("logit-normal", "uniform")
FLOW_SAMPLERS = ("euler", "heun")
TIME_SCALE = 1000.0  # network time = t * TIME_SCALE (the U-Net's sinusoidal embedding is made for 0..1000)
MAX_STEPS = 100

# velocity(x, t) -> dx/dt at time t (a python float shared by the batch)
Velocity = Callable[[torch.Tensor, float], torch.Tensor]


# --- the path ------------------------------------------------------------------------------------------
def interpolate(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x0 + t eps for a batch of times t (B,)."""
    t = t.reshape(-1, *([1] * (x0.dim() - 1)))
    return (1 - t) * x0 + t * eps


def velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """d x_t / dt along the straight path: eps - x0 (the same at every t)."""
    return eps - x0


def training_times(n: int, kind: str, mean: float = 0.0, std: float = 1.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """n training times in (0, 1): logit-normal sigmoid(mean + std * N(0, 1)), or uniform."""
    if kind == "logit-normal":
        return torch.sigmoid(mean + std * torch.randn(n, generator=generator))
    if kind == "uniform":
        return torch.rand(n, generator=generator)
    raise ValueError(f"time_sampling must be one of {', '.join(TIME_SAMPLINGS)}, not {kind!r}")


def time_grid(steps: int, start: float = 1.0, end: float = 0.0) -> list[float]:
    """steps + 1 evenly spaced times from start to end, both included."""
    steps = max(1, int(steps))
    return [float(t) for t in np.linspace(start, end, steps + 1)]


def integrate(velocity: Velocity, x: torch.Tensor, times: list[float], method: str = "euler",
              noise: float = 0.0, generator: torch.Generator | None = None,
              progress: ProgressFn | None = None, keep: set[int] | None = None,
              constrain: Callable[[torch.Tensor, float], torch.Tensor] | None = None,
              ) -> tuple[torch.Tensor, list[tuple[float, torch.Tensor]]]:
    """Follow dx/dt = velocity(x, t) through `times` (descending: noise -> image; ascending: image -> noise).

    method: euler or heun. noise in [0, 1]: the share of the implied noise replaced by fresh noise
    after each step (descending only; 0 = the deterministic ODE). keep: step indices (0 = the start)
    whose x to return as (time, x) snapshots; constrain(x, t) may overwrite parts of x after each
    step; progress(done, total) after each step may raise to stop."""
    if method not in FLOW_SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(FLOW_SAMPLERS)}, not {method!r}")
    keep = keep or set()
    snapshots = [(times[0], x.clone())] if 0 in keep else []
    total = len(times) - 1
    for i in range(total):
        t, t_next = times[i], times[i + 1]
        dt = t_next - t
        v = velocity(x, t)
        if method == "heun":
            v = 0.5 * (v + velocity(x + dt * v, t_next))
        if noise > 0 and dt < 0 and t_next > 0:
            x0, eps = x - t * v, x + (1 - t) * v
            fresh = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)
            x = (1 - t_next) * x0 + t_next * ((1 - noise ** 2) ** 0.5 * eps + noise * fresh)
        else:
            x = x + dt * v
        if constrain is not None:
            x = constrain(x, t_next)
        if i + 1 in keep:
            snapshots.append((t_next, x.clone()))
        if progress is not None:
            progress(i + 1, total)
    return x, snapshots


class EulerSampler:
    """The prior role's sampler: Euler steps over a time grid (one network pass per step, so the tools'
    pipelines can hand it the output), with the stochastic option's fresh noise."""
    label = "Euler"

    def __init__(self, times: list[float], noise: float = 0.0):
        self.timesteps = times[:-1]
        self._next = {t: times[i + 1] for i, t in enumerate(times[:-1])}
        self.noise = float(noise)

    def previous(self, t: float) -> float:
        return self._next[t]

    def step(self, v: torch.Tensor, t: float, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        t_next = self._next[t]
        if self.noise > 0 and t_next > 0:
            x0, eps = x - t * v, x + (1 - t) * v
            fresh = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)
            return (1 - t_next) * x0 + t_next * ((1 - self.noise ** 2) ** 0.5 * eps + self.noise * fresh)
        return x + (t_next - t) * v


# --- settings --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowMatchingConfig(UNetPriorConfig):
    # --- the objective ---
    time_sampling: str = param("logit-normal", choices=TIME_SAMPLINGS, help="How training picks points on the path: logit-normal (Esser et al.; most training where the velocity is hardest, the middle) or uniform (the original rectified flow).")
    logit_mean: float = param(0.0, min=-3.0, max=3.0, help="Centre of the logit-normal times (0: the middle of the path; above 0 leans to the noisy end).", when={"time_sampling": ("logit-normal",)})
    logit_std: float = param(1.0, min=0.1, max=3.0, help="Spread of the logit-normal times (larger: closer to uniform, more weight at the ends).", when={"time_sampling": ("logit-normal",)})
    # --- sampling defaults (changeable at sampling time) ---
    sampler: str = param("heun", choices=FLOW_SAMPLERS, help="ODE solver: euler (one network pass per step) or heun (two passes per step, more accurate per step).")
    sample_steps: int = param(4, min=1, max=MAX_STEPS, help="Integration steps when sampling (straight paths need few; more is slower and closer to the exact flow).")
    preview_steps: int = param(2, min=1, max=MAX_STEPS, help="Integration steps for the sample grids drawn during training (never more than sample_steps).")
    noise: float = param(0.0, min=0.0, max=1.0, help="Stochastic sampling: share of the noise replaced by fresh noise after each step (0: the deterministic ODE; a seed still gives the same images).")


@dataclass(frozen=True)
class FlowSampling:
    """What `genstudio sample --set` and the Sampler panel may change; the run's own settings are the defaults."""
    sampler: str = param("heun", choices=FLOW_SAMPLERS, help="ODE solver: euler (one network pass per step) or heun (two per step, more accurate).")
    steps: int = param(4, min=1, max=MAX_STEPS, help="Integration steps: fewer is faster, more follows the learnt flow more closely.")
    noise: float = param(0.0, min=0.0, max=1.0, help="Stochastic sampling: share of the noise renewed after each step (0: deterministic).")
    guidance: float = param(2.0, min=0.0, max=20.0, help="Classifier-free guidance scale for conditional runs: 1 = plain conditional, higher = more typical of the class.")
    ema: bool = param(True, help="Sample with the weight average (when the run keeps one).")


class FlowMatchingEngine(UNetPrior, Sampler, LatentCodec, DenoisingPath, Prior, Exportable):
    family = "flow-matching"
    encoding = "ODE inversion (integrating the learnt flow backwards, image to noise)"
    sampling_config = FlowSampling

    def __init__(self, config: FlowMatchingConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.options = FlowSampling(c.sampler, c.sample_steps, c.noise, c.guidance, ema=c.ema_decay > 0)

    def _times(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        c = self.config
        return training_times(n, c.time_sampling, c.logit_mean, c.logit_std, generator).to(self.device)

    def _prediction(self, net: nn.Module, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor,
                    labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        return net(interpolate(x0, eps, t), t * TIME_SCALE, labels), velocity_target(x0, eps)

    # --- training ---------------------------------------------------------------------------------------
    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        out, target, _ = self._training_prediction(batch)
        loss = F.mse_loss(out, target)
        grad_norm = self._learn(loss)
        return {"loss": loss.item(), "grad_norm": grad_norm}

    # --- sampling ---------------------------------------------------------------------------------------
    def _velocity(self, labels: torch.Tensor | None, guidance: float | None = None) -> Velocity:
        guided = self._guided(labels, guidance)

        def run(x: torch.Tensor, t: float) -> torch.Tensor:
            return guided(x, torch.full((x.shape[0],), float(t) * TIME_SCALE, device=self.device))
        return run

    def _flow(self, x, labels, progress=None, generator=None, keep=None, steps=None, deterministic=False,
              backwards=False, guidance=None):
        o = self.options
        steps = min(MAX_STEPS, max(1, int(steps or o.steps)))
        times = time_grid(steps, 0.0, 1.0) if backwards else time_grid(steps)
        noise = 0.0 if deterministic or backwards else o.noise
        return integrate(self._velocity(labels, guidance), x, times, o.sampler, noise, generator, progress, keep)

    @torch.no_grad()
    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> np.ndarray:
        gen = torch.Generator().manual_seed(int(seed))
        x, _ = self._flow(self._noise(n, gen), self._labels(n, labels), progress, gen)
        return to_uint8(x)

    @torch.no_grad()
    def preview(self, n: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        """Training-time grids with preview_steps, so a CPU run spends its time training."""
        gen = torch.Generator().manual_seed(int(seed))
        steps = max(1, min(self.config.preview_steps, self.options.steps))
        x, _ = self._flow(self._noise(n, gen), self._labels(n, labels), None, gen, steps=steps)
        return to_uint8(x)

    @torch.no_grad()
    def sample_path(self, n: int, seed: int, labels: np.ndarray | None = None, keep_steps: int = 8,
                    progress: ProgressFn | None = None) -> tuple[np.ndarray, list[float]]:
        """The path from noise to images: (frames uint8 (K, n, H, W, C), time of each frame, 1 -> 0);
        the last frame equals sample(n, seed, labels) with the same options."""
        total = self.options.steps
        keep_steps = max(2, min(int(keep_steps), total + 1))
        keep = {int(round(v)) for v in np.linspace(0, total, keep_steps)}
        gen = torch.Generator().manual_seed(int(seed))
        _, snaps = self._flow(self._noise(n, gen), self._labels(n, labels), progress, gen, keep)
        return np.stack([to_uint8(x) for _, x in snaps]), [t for t, _ in snaps]

    def sampling_times(self, step_counts=(1, 2, 4, 8, 16, 32), n: int = 4, seed: int = 0) -> list[tuple[int, float]]:
        """(integration steps, seconds per image) for each step count with the current solver."""
        out = []
        saved = self.options
        try:
            for steps in step_counts:
                self.options = replace(saved, steps=min(MAX_STEPS, int(steps)))
                t0 = time.perf_counter()
                self.sample(n, seed)
                out.append((int(steps), (time.perf_counter() - t0) / n))
        finally:
            self.options = saved
        return out

    # --- latent space: the deterministic ODE, both ways ----------------------------------------------------
    @torch.no_grad()
    def encode(self, images: np.ndarray, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> torch.Tensor:
        """Real images -> the noise that decode() maps back onto them (the ODE integrated from t = 0 to
        1, no guidance). Without labels a conditional model uses its unconditional ('no label') branch."""
        x = self._images_to_tensor(images)
        z, _ = self._flow(x, self._given_or_null(len(x), labels), progress, backwards=True, guidance=1.0)
        return z.cpu()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> np.ndarray:
        """Noise -> images by the deterministic ODE (no guidance, no fresh noise): the inverse of encode()."""
        x = torch.as_tensor(latents, dtype=torch.float32).to(self.device)
        x, _ = self._flow(x, self._given_or_null(len(x), labels), progress, deterministic=True, guidance=1.0)
        return to_uint8(x)


    # --- the prior role: x_t = (1 - t) x0 + t eps, velocity prediction ------------------------------------
    prediction = "velocity"

    def prior_times(self) -> list[float]:
        return [i / 1000 for i in range(1, 1001)]

    def noise_level(self, t) -> tuple[float, float]:
        t = 0.0 if t == -1 else float(t)
        return 1.0 - t, t

    def denoiser(self, labels: np.ndarray | None = None, guidance: float | None = None):
        if labels is None or not self.conditional:
            return lambda x, t: self._velocity(self._null_labels(len(x)), 1.0)(x, t)
        return self._velocity(self._labels(len(labels), labels), guidance)

    def prediction_target(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        return velocity_target(x0, noise)

    def prior_sampler(self, steps: int | None = None, start=None, deterministic: bool = False) -> EulerSampler:
        steps = min(MAX_STEPS, max(1, int(steps or self.options.steps)))
        return EulerSampler(time_grid(steps, 1.0 if start is None else float(start)),
                            0.0 if deterministic else self.options.noise)

    # --- export: the velocity network (one ODE step's evaluation) ------------------------------------------
    def export_network(self, batch: int = 2) -> ExportedNetwork:
        return self._export_step(torch.linspace(0.1, 0.9, batch), TIME_SCALE, "velocity", {
            "network": "velocity (one ODE step)", "prediction": "velocity", "time": "t in [0, 1], 1 = noise",
            "path": "x_t = (1 - t) x0 + t eps"})


FAMILY = Family(
    name="flow-matching",
    title="Flow matching (rectified flow)",
    description="Learns the velocity that carries noise to images along straight lines (not a normalizing flow); "
                "samples with a few Euler or Heun ODE steps, far fewer than diffusion. Same U-Net, weight average "
                "and class guidance as ddpm; real images reach the latent space by running the ODE backwards.",
    config_class=FlowMatchingConfig,
    engine_class=FlowMatchingEngine,
    preset=preset,
)
