"""RealNVP (Dinh et al., 2017): a multi-scale stack of affine couplings with exact likelihood.

Per level: checkerboard couplings at the current resolution, a squeeze, channel-mask couplings, and
half the channels factored out to a standard normal; the last level (or the first size that cannot
be halved, e.g. 7 px after 28 -> 14 -> 7) has one more checkerboard coupling and no split. Pixels
are uniformly dequantised and logit-transformed; bits/dim counts both, so it is the standard
discrete bound. Latents are the standardised Gaussian variables, so encode/decode are exact inverses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from torch import nn

from ..config import ConfigError, param, replace_checked
from ..nn.flows import (Coupling, MultiScaleFlow, Preprocess, Scale, bits_per_dim, channel_mask,
                        checkerboard_mask, clip_with_recipe_default, decode_latents, encode_images,
                        parse_temperature)
from ..registry import Family
from .base import Batch, DataSpec, Engine


@dataclass(frozen=True)
class RealNVPConfig:
    levels: int = param(3, min=1, max=6, help="Most scales in the multi-scale architecture; a level that cannot halve the image (odd size) becomes the last.")
    couplings: int = param(3, min=1, max=8, help="Affine couplings per mask type in each level (the last level gets one more checkerboard coupling).")
    hidden: int = param(64, min=8, max=512, help="Channels inside each coupling's network.")
    blocks: int = param(2, min=0, max=8, help="Residual blocks inside each coupling's network.")
    logit_alpha: float = param(0.05, min=1e-6, max=0.2, help="Logit preprocessing keeps pixels in [alpha, 1 - alpha] before the logit, avoiding infinities at 0 and 255.")
    lr: float = param(1e-3, min=1e-6, max=1e-1, help="Adam learning rate.")
    warmup_steps: int = param(100, min=0, max=100_000, help="Steps over which the learning rate ramps up linearly from zero.")
    grad_clip: float = param(50.0, min=0.0, max=1e6, help="Largest gradient norm before clipping, unless the training settings set their own grad_clip; 0 turns it off.")
    temperature: float = param(1.0, min=0.0, max=2.0, help="Sampling temperature: the prior's standard deviation; below 1 gives cleaner, less varied samples.")


def preset(config: RealNVPConfig, size: int) -> RealNVPConfig:
    """Recipes that train in a few CPU minutes: fewer, narrower couplings as images grow."""
    if size <= 20:
        return replace_checked(config, levels=2, couplings=3, hidden=32, blocks=1)
    if size <= 32:
        return replace_checked(config, levels=3, couplings=3, hidden=32, blocks=1)
    return replace_checked(config, levels=4, couplings=2, hidden=32, blocks=1)


class RealNVPEngine(Engine):
    family = "realnvp"
    has_latent = True
    conditional = False
    encode_method = "exact inverse (normalizing flow)"
    best_metric = "bits_per_dim"
    mixed_precision_ok = False  # log-determinants and the logit need fp32

    def __init__(self, config: RealNVPConfig, data: DataSpec, device="cpu"):
        super().__init__(config, data, device)
        c = config
        self.flow = MultiScaleFlow(data.channels, data.size, c.levels, self._build_level,
                                   Preprocess("logit", c.logit_alpha), learned_prior=False).to(self.device)
        self.opt = torch.optim.Adam(self.flow.parameters(), lr=c.lr)
        self.temperature = c.temperature
        self.steps_done = 0
        self.lr_scale = 1.0

    def _build_level(self, scale: Scale, channels: int, size: int) -> tuple[list[nn.Module], list[nn.Module]]:
        c = self.config

        def coupling(mask: torch.Tensor, ch: int) -> Coupling:
            return Coupling(mask, ch, c.hidden, c.blocks, affine=True)

        if not scale.split:
            pre = [coupling(checkerboard_mask(scale.size, scale.size, i % 2), scale.channels)
                   for i in range(c.couplings + 1)]
            return pre, []
        pre = [coupling(checkerboard_mask(scale.size, scale.size, i % 2), scale.channels) for i in range(c.couplings)]
        post = [coupling(channel_mask(channels, i % 2), channels) for i in range(c.couplings)]
        return pre, post

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
            raise ConfigError(f"realnvp has no sampling option {', '.join(sorted(unknown))}; it has: temperature")
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
    name="realnvp",
    title="RealNVP",
    description="Normalizing flow of affine couplings (checkerboard and channel masks, multi-scale): exact "
                "likelihood in bits/dim and an exactly invertible latent space; samples are softer than a GAN's.",
    config_class=RealNVPConfig,
    engine_class=RealNVPEngine,
    preset=preset,
)
