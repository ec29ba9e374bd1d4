"""What the flow families share beyond their layers: training on bits/dim with a warm-up, repeatable
validation, temperature, and the exact latent interface. A family subclasses FlowEngine and builds
its levels (`_build_level`); everything else is here once."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from torch import nn

from .base import Batch, DataSpec, Engine, image_batches
from .capabilities import Exportable, ExportedNetwork, LatentCodec, LatentRenderer, Likelihood, Sampler
from ..nn.ema import EMA
from ..nn.export_helpers import Call, bake_inverses, plain_copy
from ..nn.flows import (MultiScaleFlow, Preprocess, Scale, bits_per_dim, decode_latents,
                        encode_images)
from ..sampling import TemperatureSampling


def flow_train_preset(size: int) -> dict:
    """Small batches: in a fixed CPU budget more, noisier steps beat fewer, cleaner ones (the figures:
    README, "Figures", the paragraph on flows and PixelCNN)."""
    return {"batch_size": 16}


class FlowEngine(Engine, Sampler, LatentCodec, Likelihood, LatentRenderer, Exportable):
    conditional = False
    encoding = "exact inverse (normalizing flow)"
    best_metric = "bits_per_dim"
    mixed_precision_ok = False  # log-determinants and the logit need fp32

    def __init__(self, config, data: DataSpec, device, preprocess: Preprocess, learned_prior: bool):
        super().__init__(config, data, device)
        self.flow = MultiScaleFlow(data.channels, data.size, config.levels, self._build_level,
                                   preprocess, learned_prior=learned_prior).to(self.device)
        decay = config.ema_decay
        self.ema = EMA(self.flow, decay, warmup=True).to(self.device) if decay > 0 else None
        self.opt = torch.optim.Adam(self.flow.parameters(), lr=config.lr)
        self.temperature = config.temperature
        self.steps_done = 0
        self.lr_scale = 1.0

    def _build_level(self, scale: Scale, channels: int, size: int) -> tuple[list[nn.Module], list[nn.Module]]:
        """(layers before the level's split, layers after it) for one scale of the multi-scale stack."""
        raise NotImplementedError

    @property
    def model(self) -> MultiScaleFlow:
        """The flow that validates, samples, encodes and decodes: the weight average when there is one."""
        return self.ema.network if self.ema is not None else self.flow

    # --- training ---------------------------------------------------------------------------
    def _current_lr(self) -> float:
        warm = self.config.warmup_steps
        ramp = min(1.0, (self.steps_done + 1) / warm) if warm else 1.0
        return self.config.lr * ramp * self.lr_scale

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        self.flow.train()
        for group in self.opt.param_groups:
            group["lr"] = self._current_lr()
        loss = bits_per_dim(self.flow, batch.pixels).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = self.optimizer_step(self.opt, self.flow, clip=self.config.grad_clip)
        if self.ema is not None:
            self.ema.update(self.flow)
        self.steps_done += 1
        return {"bits_per_dim": loss.item(), "grad_norm": grad_norm}

    @torch.no_grad()
    def validate(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Mean bits/dim on held-out images, with fixed dequantisation noise so the figure is repeatable."""
        flow = self.model
        was_training = flow.training
        flow.eval()
        gen = torch.Generator(device=self.device).manual_seed(1234)
        total, count = 0.0, 0
        try:
            for batch in batches:
                bpd = bits_per_dim(flow, batch.pixels, gen)
                total += float(bpd.sum())
                count += bpd.shape[0]
        finally:
            flow.train(was_training)
        return {"bits_per_dim": total / count} if count else {}

    @torch.no_grad()
    def bits_per_dim(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Exact (dequantised) bits/dim of each image, with the validation's fixed noise."""
        flow = self.model
        was_training = flow.training
        flow.eval()
        gen = torch.Generator(device=self.device).manual_seed(1234)
        try:
            out = [bits_per_dim(flow, b.pixels, gen).double().cpu() for b in image_batches(images, self.device)]
        finally:
            flow.train(was_training)
        return torch.cat(out).numpy() if out else np.zeros(0)

    def set_learning_rate_scale(self, scale: float) -> None:
        self.lr_scale *= scale

    def extra_state(self) -> dict:
        return {"steps_done": self.steps_done, "lr_scale": self.lr_scale}

    def load_extra_state(self, state: dict) -> None:
        self.steps_done = int(state.get("steps_done", 0))
        self.lr_scale = float(state.get("lr_scale", 1.0))

    # --- sampling and the latent space --------------------------------------------------------
    sampling_config = TemperatureSampling

    def sampling_options(self) -> TemperatureSampling:
        return TemperatureSampling(self.temperature)

    def apply_sampling_options(self, options: TemperatureSampling) -> None:
        self.temperature = options.temperature

    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.flow.latent_dim(), generator=gen) * self.temperature

    def encode(self, images: np.ndarray, labels=None, progress=None) -> torch.Tensor:
        return encode_images(self.model, images, self.device)

    def decode(self, latents: torch.Tensor, labels=None, progress=None) -> np.ndarray:
        return decode_latents(self.model, latents, self.device)

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress=None) -> np.ndarray:
        return self.decode(self.random_latents(n, seed))

    # --- roles: latent renderer (the flow's inverse), export ---------------------------------------------
    renders_encoded = True

    def latent_shape(self) -> tuple[int, ...]:
        return (self.model.latent_dim(),)

    def render_u(self, u: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.decode(u).clamp(1e-4, 1 - 1e-4) * 2 - 1

    def encode_u(self, images: np.ndarray, labels: np.ndarray | None = None) -> torch.Tensor:
        return self.encode(images).to(self.device)

    def export_network(self, batch: int = 2) -> ExportedNetwork:
        """The flow's inverse, standardised latents eps -> images in (0, 1), unclamped."""
        flow = bake_inverses(plain_copy(self.model))
        module = Call(flow, lambda net, eps: net.decode(eps), ("eps",))
        return ExportedNetwork(module, {"eps": torch.randn(batch, flow.latent_dim()) * 0.5}, "images",
                               {"network": "flow inverse", "range": [0, 1], "temperature": float(self.temperature)})

    def modules(self) -> dict[str, nn.Module]:
        return {"flow": self.flow, **({"ema": self.ema} if self.ema is not None else {})}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"flow": self.opt}
