"""What every family's engine offers the training loop, the studio and the command line.

The surface is small on purpose:
    losses = engine.train_step(batch)        # one optimisation step, named float losses
    images = engine.sample(n, seed)          # uint8 (n, H, W, C), same seed -> same images
    engine.modules(), engine.optimizers()    # what a checkpoint saves (handled generically)
Optional: validate(batches) -> measures; encode/decode when `has_latent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterable

import numpy as np
import torch


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

    # --- sampling -------------------------------------------------------------------------
    def sample(self, n: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

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

    def parameter_count(self) -> int:
        return sum(p.numel() for m in self.modules().values() for p in m.parameters())
