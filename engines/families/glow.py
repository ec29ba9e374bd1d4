"""Glow (Kingma & Dhariwal, 2018): actnorm, invertible 1x1 convolution (LU) and coupling, multi-scale.

Per level: squeeze, K steps of [actnorm -> 1x1 conv -> affine or additive coupling on channel halves],
then half the channels are factored out to a Gaussian whose mean and scale are predicted from the
other half (split prior); the top prior is learnt too. A level whose size cannot be halved (7 px
after 28 -> 14 -> 7) runs its steps unsqueezed and ends the stack. Actnorm initialises itself from
the first training batch (no randomness) and saves that it did, so resumes are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from torch import nn

from ..config import ConfigError, param, replace_checked
from ..nn.flows import (ActNorm, Coupling, InvConv1x1, MultiScaleFlow, Preprocess, Scale, bits_per_dim,
                        channel_mask, clip_with_recipe_default, decode_latents,
                        encode_images, parse_temperature)
from ..registry import Family
from .base import Batch, DataSpec, Engine


@dataclass(frozen=True)
class GlowConfig:
    levels: int = param(3, min=1, max=6, help="Most scales (squeeze + steps + split); a level that cannot halve the image (odd size) becomes the last.")
    steps: int = param(8, min=1, max=64, help="Flow steps (actnorm, 1x1 conv, coupling) per level.")
    hidden: int = param(128, min=8, max=512, help="Channels inside each coupling's network.")
    blocks: int = param(0, min=0, max=8, help="Extra residual blocks inside each coupling's network.")
    coupling: str = param("affine", choices=("affine", "additive"), help="Affine couplings learn a scale too; additive ones are volume preserving (simpler, a little weaker).")
    lr: float = param(1e-3, min=1e-6, max=1e-1, help="Adam learning rate.")
    warmup_steps: int = param(100, min=0, max=100_000, help="Steps over which the learning rate ramps up linearly from zero.")
    grad_clip: float = param(50.0, min=0.0, max=1e6, help="Largest gradient norm before clipping, unless the training settings set their own grad_clip; 0 turns it off.")
    temperature: float = param(0.8, min=0.0, max=2.0, help="Sampling temperature: scales the prior's standard deviation; below 1 gives cleaner, less varied samples.")


def preset(config: GlowConfig, size: int) -> GlowConfig:
    """Recipes that train in a few CPU minutes: fewer, narrower steps as images grow."""
    if size <= 20:
        return replace_checked(config, levels=2, steps=4, hidden=32)
    if size <= 32:
        return replace_checked(config, levels=3, steps=4, hidden=48)
    return replace_checked(config, levels=4, steps=3, hidden=32)


class GlowEngine(Engine):
    family = "glow"
    has_latent = True
    conditional = False
    encode_method = "exact inverse (normalizing flow)"
    best_metric = "bits_per_dim"
    mixed_precision_ok = False  # log-determinants and the logit need fp32

    def __init__(self, config: GlowConfig, data: DataSpec, device="cpu"):
        super().__init__(config, data, device)
        c = config
        self.flow = MultiScaleFlow(data.channels, data.size, c.levels, self._build_level,
                                   Preprocess("shift"), learned_prior=True).to(self.device)
        self.opt = torch.optim.Adam(self.flow.parameters(), lr=c.lr)
        self.temperature = c.temperature
        self.steps_done = 0
        self.lr_scale = 1.0

    def _build_level(self, scale: Scale, channels: int, size: int) -> tuple[list[nn.Module], list[nn.Module]]:
        c = self.config
        post: list[nn.Module] = []
        for k in range(c.steps):
            post += [ActNorm(channels), InvConv1x1(channels),
                     Coupling(channel_mask(channels, k % 2), channels, c.hidden, c.blocks,
                              affine=c.coupling == "affine")]
        return [], post

    # --- training ---------------------------------------------------------------------------
    def _current_lr(self) -> float:
        warm = self.config.warmup_steps
        ramp = min(1.0, (self.steps_done + 1) / warm) if warm else 1.0
        return self.config.lr * ramp * self.lr_scale

    def train_step(self, batch: Batch) -> dict[str, float]:
        self.flow.train()
        for group in self.opt.param_groups:
            group["lr"] = self._current_lr()
        loss = bits_per_dim(self.flow, batch.pixels).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_with_recipe_default(self, self.flow)
        self.opt.step()
        self.steps_done += 1
        return {"bits_per_dim": loss.item(), "grad_norm": grad_norm}

    @torch.no_grad()
    def validate(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Mean bits/dim on held-out images, with fixed dequantisation noise so the figure is repeatable."""
        was_training = self.flow.training
        self.flow.eval()
        gen = torch.Generator(device=self.device).manual_seed(1234)
        total, count = 0.0, 0
        try:
            for batch in batches:
                bpd = bits_per_dim(self.flow, batch.pixels, gen)
                total += float(bpd.sum())
                count += bpd.shape[0]
        finally:
            self.flow.train(was_training)
        return {"bits_per_dim": total / count} if count else {}

    def set_learning_rate_scale(self, scale: float) -> None:
        self.lr_scale *= scale

    def extra_state(self) -> dict:
        return {"steps_done": self.steps_done, "lr_scale": self.lr_scale}

    def load_extra_state(self, state: dict) -> None:
        self.steps_done = int(state.get("steps_done", 0))
        self.lr_scale = float(state.get("lr_scale", 1.0))

    # --- sampling and the latent space --------------------------------------------------------
    def set_sampling_options(self, **options: str) -> None:
        unknown = set(options) - {"temperature"}
        if unknown:
            raise ConfigError(f"glow has no sampling option {', '.join(sorted(unknown))}; it has: temperature")
        if "temperature" in options:
            self.temperature = parse_temperature(options["temperature"])

    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.flow.latent_dim(), generator=gen) * self.temperature

    def encode(self, images: np.ndarray) -> torch.Tensor:
        return encode_images(self.flow, images, self.device)

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        return decode_latents(self.flow, latents, self.device)

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress=None) -> np.ndarray:
        return self.decode(self.random_latents(n, seed))

    def modules(self) -> dict[str, nn.Module]:
        return {"flow": self.flow}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"flow": self.opt}


FAMILY = Family(
    name="glow",
    title="Glow",
    description="Normalizing flow of actnorm, invertible 1x1 convolutions and couplings with learnt split "
                "priors: exact likelihood in bits/dim, an exactly invertible latent space, temperature-controlled samples.",
    config_class=GlowConfig,
    engine_class=GlowEngine,
    preset=preset,
)
