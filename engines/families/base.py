"""What every family's engine offers the training loop, the studio and the command line.

The surface is small on purpose:
    losses = engine.train_step(batch)        # one optimisation step, named float losses
    images = engine.sample(n, seed)          # uint8 (n, H, W, C), same seed -> same images
    engine.modules(), engine.optimizers()    # what a checkpoint saves (handled generically)
Optional: validate(batches) -> measures; monitor() -> diagnostics and warnings;
encode/decode when `has_latent`; set_sampling_options(**strings) for samplers with options.

Slow samplers (autoregressive, diffusion) call `progress(done, total)` between their sequential
steps; the callback may raise `Cancelled` to stop sampling early.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable

import numpy as np
import torch


class Cancelled(Exception):
    """Raised by a progress callback to stop a long computation (sampling, inversion, projection)."""


ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Finding:
    """Something a person should know while training (mode collapse, divergence, posterior collapse)."""
    kind: str           # short machine name: "mode-collapse", "divergence", "posterior-collapse", ...
    message: str        # one sentence for a person
    rollback: bool = False  # offer "roll back to the last checkpoint before this"


@dataclass(frozen=True)
class DataSpec:
    """What a family needs to know about the data to build its networks."""
    size: int
    channels: int
    num_classes: int = 0          # 0: unlabelled
    class_names: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"size": self.size, "channels": self.channels, "num_classes": self.num_classes,
                "class_names": list(self.class_names)}

    @classmethod
    def from_json(cls, d: dict) -> "DataSpec":
        return cls(int(d["size"]), int(d["channels"]), int(d.get("num_classes", 0)),
                   tuple(d.get("class_names", ())))


@dataclass
class Batch:
    pixels: torch.Tensor          # uint8 (B, C, H, W) on the engine's device
    labels: torch.Tensor          # int64 (B,)

    def float(self) -> torch.Tensor:
        """Pixels scaled to [-1, 1]."""
        return self.pixels.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> uint8 numpy (B, H, W, C)."""
    x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


class Engine:
    """Base class. Subclasses set `family`, build networks/optimisers in __init__."""

    family: ClassVar[str] = ""
    has_latent: ClassVar[bool] = False
    conditional: bool = False

    def __init__(self, config, data: DataSpec, device: torch.device | str = "cpu"):
        self.config = config
        self.data = data
        self.device = torch.device(device)

    # --- training -------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    def validate(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Measures on held-out data (e.g. bits/dim). Empty when the family has none."""
        return {}

    def monitor(self, step: int) -> tuple[dict[str, float], list[Finding]]:
        """Called every `monitor_every` steps: diagnostic measures to plot/log, and findings to show.

        Must not touch the global RNG (use a local torch.Generator) so runs stay exactly resumable.
        """
        return {}, []

    # --- sampling -------------------------------------------------------------------------
    def sample(self, n: int, seed: int, labels: np.ndarray | None = None,
               progress: ProgressFn | None = None) -> np.ndarray:
        """uint8 (n, H, W, C). Same seed, same images; never touches the global RNG."""
        raise NotImplementedError

    def set_sampling_options(self, **options: str) -> None:
        """Sampler options from the command line or the studio (strings, validated by the family)."""
        if options:
            raise ValueError(f"{self.family} has no sampling options")

    # --- state ----------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def schedulers(self) -> dict[str, object]:
        """LR schedulers (anything with state_dict/load_state_dict)."""
        return {}

    def extra_state(self) -> dict:
        """JSON-able state beyond modules and optimisers (counters, running statistics)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def set_learning_rate_scale(self, scale: float) -> None:
        """Multiply every optimiser's learning rate (used when rolling back after a divergence)."""
        for opt in self.optimizers().values():
            for group in opt.param_groups:
                group["lr"] *= scale

    # --- latent space (families with has_latent = True) -----------------------------------
    def encode(self, images: np.ndarray) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} has no latent space")

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        raise NotImplementedError(f"{self.family} has no latent space")

    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} has no latent space")

    def render(self, latents: torch.Tensor) -> torch.Tensor:
        """Differentiable latents -> images in [-1, 1], (B, C, H, W). Families without an encoder
        (GANs) implement it so real images can be projected into their latent space."""
        raise NotImplementedError(f"{self.family} cannot render latents differentiably")

    def parameter_count(self) -> int:
        return sum(p.numel() for m in self.modules().values() for p in m.parameters())
