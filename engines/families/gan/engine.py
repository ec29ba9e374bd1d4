"""The one GAN engine behind the recipes: MLP or conv networks, the shared losses, spectral norm,
self-attention, class conditioning, EMA generator, DiffAugment, R1; diagnostics from the monitor."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ...sampling import LabelSampling
from ...nn import diversity
from ...nn.export_helpers import Call, example_labels, plain_copy
from ...nn.gan_blocks import (ConvDiscriminator, ConvGenerator, MLPDiscriminator, MLPGenerator, diff_augment,
                              ema_update, init_dcgan_weights, parse_policy)
from ..base import Batch, DataSpec, Engine, to_uint8
from ..capabilities import Exportable, ExportedNetwork, LatentCodec, LatentRenderer, Sampler
from ..base import class_weights


from .config import RECIPE_NAMES, GANConfig, attention_sizes
from .losses import SATURATION_GAP, d_loss, g_loss, gradient_penalty
from .monitor import MONITOR_SEED, AdversarialMonitor


class GANEngine(AdversarialMonitor, Engine, Sampler, LatentCodec, LatentRenderer, Exportable):
    family = "gan"
    encoding = "projection (optimising the latent until the generator reproduces the image)"
    class_mixing = True  # conditional runs: G's class embedding takes weights (n, classes) too

    def __init__(self, config: GANConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        self.family = RECIPE_NAMES.get(type(config), "gan")
        c = config
        self.conditional = bool(c.conditional and data.num_classes > 0)
        classes = data.num_classes if self.conditional else 0
        attention = attention_sizes(c.attention_at)
        if c.architecture == "mlp":
            self.G = MLPGenerator(c.latent_dim, c.mlp_hidden, data.size, data.channels, classes, c.spectral_norm_g)
            self.D = MLPDiscriminator(c.mlp_hidden, data.size, data.channels, classes, c.spectral_norm_d)
        else:
            self.G = ConvGenerator(c.latent_dim, c.g_width, data.size, data.channels, classes,
                                   c.spectral_norm_g, attention)
            self.D = ConvDiscriminator(c.d_width, data.size, data.channels, classes, c.spectral_norm_d,
                                       c.d_batch_norm, attention)
        self.G.apply(init_dcgan_weights)
        self.D.apply(init_dcgan_weights)
        self.G.to(self.device)
        self.D.to(self.device)
        self.G_ema = None
        if c.ema_decay > 0:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        self.policy = parse_policy(c.diffaugment)
        self.decode_label = 0
        self._probe = diversity.RandomFeatures(data.channels, MONITOR_SEED, self.device)
        self._last_real: torch.Tensor | None = None   # the latest real batch: monitor's view of the data
        self._last_labels: torch.Tensor | None = None
        self._state = {"d_steps": 0, "g_steps": 0, "g_loss": 0.0, "saturated_streak": 0,
                       "data_diversity": 0.0, "data_diversity_n": 0, "diversity_peak": 0.0,
                       "collapse_flagged": False, "divergence_flagged": False,
                       "class_sums": [], "class_counts": [], "unconditional_noted": False,
                       # sums since the last monitor call of the per-step diagnostics (not losses)
                       "interval_sums": {}, "interval_counts": {}}

    # --- training ---------------------------------------------------------------------------------
    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy) if self.policy else x
    def _d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        return d_loss(self.config.loss, d_real, d_fake, self.config.real_label)

    def _g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return g_loss(self.config.loss, d_fake)

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, labels) -> torch.Tensor:
        return gradient_penalty(self.D, real, fake, labels)

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        c, st = self.config, self._state
        self.G.train()
        self.D.train()
        real = batch.float()
        self._last_real, self._last_labels = batch.pixels, batch.labels
        labels = batch.labels if self.conditional else None
        g_turn = (st["d_steps"] + 1) % c.n_critic == 0
        z = torch.randn(real.shape[0], c.latent_dim, device=self.device)
        with torch.set_grad_enabled(g_turn):
            fake = self.G(z, labels)

        # --- discriminator / critic
        real_in, fake_in = self._augment(real), self._augment(fake.detach())
        if c.r1_gamma > 0:
            real_in = real_in.detach().requires_grad_(True)
        d_real, d_fake = self.D(real_in, labels), self.D(fake_in, labels)
        loss_d = self._d_loss(d_real, d_fake)
        out: dict[str, float] = {"d_loss": loss_d.item()}
        total_d = loss_d
        if c.loss == "wgan-gp" and c.gp_weight > 0:
            gp = self._gradient_penalty(real_in.detach(), fake_in, labels)
            total_d = total_d + c.gp_weight * gp
            out["gradient_penalty"] = gp.item()
        if c.r1_gamma > 0:
            grad, = torch.autograd.grad(d_real.sum(), real_in, create_graph=True)
            r1 = grad.flatten(1).pow(2).sum(1).mean()
            total_d = total_d + 0.5 * c.r1_gamma * r1
            out["r1_penalty"] = r1.item()
        self.opt_d.zero_grad(set_to_none=True)
        total_d.backward()
        self._note("d_grad_norm", self.optimizer_step(self.opt_d, self.D))
        st["d_steps"] += 1

        gap = (d_real.mean() - d_fake.mean()).item()
        st["saturated_streak"] = st["saturated_streak"] + 1 if gap > SATURATION_GAP[c.loss] else 0
        if c.loss == "bce":  # probabilities read more naturally for the classic loss
            self._note("d_real", torch.sigmoid(d_real).mean().item())
            self._note("d_fake", torch.sigmoid(d_fake).mean().item())
        else:
            self._note("d_real", d_real.mean().item())
            self._note("d_fake", d_fake.mean().item())

        # --- generator (every n_critic-th step)
        if g_turn:
            self.D.requires_grad_(False)  # G's backward needs no D weight gradients
            try:
                loss_g = self._g_loss(self.D(self._augment(fake), labels))
                self.opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
            finally:
                self.D.requires_grad_(True)
            self._note("g_grad_norm", self.optimizer_step(self.opt_g, self.G))
            st["g_loss"] = loss_g.item()
            st["g_steps"] += 1
            if self.G_ema is not None:
                # warm-up: average over the steps so far until the decay's horizon is reached
                decay = min(c.ema_decay, (1 + st["g_steps"]) / (10 + st["g_steps"]))
                ema_update(self.G_ema, self.G, decay)
        out["g_loss"] = st["g_loss"]
        return out

    # --- diagnostics ------------------------------------------------------------------------------
    def _sampling_generator(self) -> nn.Module:
        return self.G_ema if self.G_ema is not None else self.G

    @torch.no_grad()
    def _sampling_generator_output(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        g = self._sampling_generator()
        was_training = g.training
        g.eval()
        try:
            return g(z.to(self.device, torch.float32), None if labels is None else labels.to(self.device))
        finally:
            g.train(was_training)

    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.config.latent_dim, generator=gen)

    def _decode_labels(self, n: int) -> torch.Tensor | None:
        return torch.full((n,), self.decode_label, dtype=torch.int64, device=self.device) if self.conditional else None

    def _labels_for(self, n: int, labels) -> torch.Tensor | None:
        """Explicit class indices for n images, else the decode label (conditional runs only)."""
        if labels is None or not self.conditional:
            return self._decode_labels(n)
        soft = class_weights(labels, n, self.data.num_classes)
        if soft is not None:  # a mix of the class embeddings (the explorer morphs one class into another)
            return soft.to(self.device)
        return torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=self.device).reshape(n)

    def render(self, latents: torch.Tensor, labels=None) -> torch.Tensor:
        """Differentiable latents -> images in [-1, 1] (used to project real images into the latent space)."""
        g = self._sampling_generator()
        g.eval()
        return g(latents.to(self.device, torch.float32), self._labels_for(latents.shape[0], labels))

    def decode(self, latents: torch.Tensor, labels=None, progress=None) -> np.ndarray:
        """Latents -> uint8 images; conditional runs draw `labels` (or the decode label) per image."""
        return to_uint8(self._sampling_generator_output(latents, self._labels_for(latents.shape[0], labels)))

    # --- roles: latent renderer (the generator), export --------------------------------------------------
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(self.random_latents(1, 0).shape[1:])

    def render_u(self, u: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.render(u, labels=labels)

    def export_forward(self, net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """What the exported file computes with `net`, a plain copy of the sampling generator."""
        return net(z, labels if self.conditional else None)

    def export_about(self) -> dict:
        """Extra facts for the exported file's metadata."""
        return {}

    def export_network(self, batch: int = 2) -> ExportedNetwork:
        """The sampling generator, (z [, labels]) -> images in [-1, 1]."""
        g = plain_copy(self._sampling_generator())
        z = torch.randn(batch, self.config.latent_dim)
        about = {"network": "generator", "range": [-1, 1], **self.export_about()}
        if self.conditional:
            module = Call(g, lambda net, z, labels: self.export_forward(net, z, labels), ("z", "labels"))
            return ExportedNetwork(module, {"z": z, "labels": example_labels(batch, self.data.num_classes)},
                                   "images", about)
        return ExportedNetwork(Call(g, lambda net, z: self.export_forward(net, z), ("z",)), {"z": z}, "images", about)

    sampling_config = LabelSampling

    def sampling_options(self) -> LabelSampling:
        return LabelSampling(self.data.class_names[self.decode_label] if self.conditional and self.data.class_names else "")

    def sampling_limits(self) -> dict:
        return {"label": {"choices": self.data.class_names}} if self.conditional else {"label": None}

    def apply_sampling_options(self, options: LabelSampling) -> None:
        if self.conditional and options.label:
            self.decode_label = list(self.data.class_names).index(options.label)

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress=None) -> np.ndarray:
        z = self.random_latents(n, seed)
        y = None
        if self.conditional:
            if labels is None:  # no class asked for: classes drawn with the same seed
                gen = torch.Generator().manual_seed(int(seed) + 1)
                y = torch.randint(0, self.data.num_classes, (n,), generator=gen)
            else:
                y = torch.as_tensor(np.asarray(labels), dtype=torch.int64).reshape(-1)
                if y.shape[0] != n or (y < 0).any() or (y >= self.data.num_classes).any():
                    raise ValueError(f"labels must be {n} class indices below {self.data.num_classes}")
        return to_uint8(self._sampling_generator_output(z, y))

    # --- state ------------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        out = {"generator": self.G, "discriminator": self.D}
        if self.G_ema is not None:
            out["generator_ema"] = self.G_ema
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def extra_state(self) -> dict:
        return copy.deepcopy(self._state)

    def load_extra_state(self, state: dict) -> None:
        for key, value in state.items():
            if key in self._state:
                self._state[key] = copy.deepcopy(value)
