"""StyleGAN2-lite (Karras et al., 2019/2020): a style-based generator, small enough for a CPU.

What made it famous, all here: a mapping network z -> w trained at a 0.01x learning rate, a learned
constant input, modulated/demodulated convolutions fed one style per layer, per-layer noise, style
mixing regularisation (two w's with a random crossover layer for `style_mixing` of the batches), a
lazy R1 penalty every `r1_every` steps (scaled up by the interval), an optional path-length
regulariser, a moving average of G, and DiffAugment for small folders. The non-saturating logistic
loss of StyleGAN2.

Latent space (Latent panel, `genstudio interpolate`): W by default, where the image is smoother in
the latent; random latents are z mapped to w. The sampling option `space=z` makes the latents z
instead (`interpolate --space z`). `truncation=PSI` (0 < PSI <= 1) pulls every w towards the mean w
tracked during training before drawing (1 = off). `style_mix()` draws the paper's style-mixing grid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from ..config import ConfigError, param
from ..nn.gan_blocks import diff_augment, parse_policy
from ..nn.stylegan_nets import StyleDiscriminator, StyleGenerator, style_levels
from ..registry import Family
from .base import Batch, DataSpec, to_uint8
from .capabilities import StyleMixer
from .gan import SATURATION_GAP, check_gan_options
from .gan_common import TRUNCATION_HELP, MilestoneGAN, cpu_batch_preset

LEVELS = ("coarse", "middle", "fine")
SPACES = ("w", "z")
W_AVG_DECAY = 0.995


@dataclass(frozen=True)
class StyleGANConfig:
    """StyleGAN2 scaled down: mapping net at 0.01x LR, modulated convs, noise, style mixing, lazy R1, EMA."""
    loss: ClassVar[str] = "bce"

    latent_dim: int = param(64, min=2, max=1024, help="Size of z (and of w, the style vector).")
    mapping_layers: int = param(4, min=1, max=8, help="Layers of the mapping network z -> w (the paper: 8).")
    mapping_lr_mul: float = param(0.01, min=1e-4, max=1.0, help="Learning-rate multiplier of the mapping network (the paper: 0.01).")
    width: int = param(16, min=4, max=512, help="Channels at the full resolution; they double towards 4x4, up to max_width (CPU recipe; 32 at 64 px).")
    max_width: int = param(64, min=8, max=1024, help="Most channels in any layer (256 at 64 px).")
    style_mixing: float = param(0.9, min=0.0, max=1.0, help="Share of generated batches that mix two w's at a random layer (style-mixing regularisation).")
    d_downsample_first: bool = param(False, help="D's blocks halve the map before their second conv and skip conv, as "
                                     "StyleGAN2's strided convs do (cheaper); off: those convs run at the full map, then pool "
                                     "(runs made before this option). The recipe turns it on.")
    g_upsample_last: bool = param(False, help="G's upsampling layers convolve at the lower resolution, then double the "
                                  "map (a quarter of their cost); off: double the map, then convolve (StyleGAN2's order, "
                                  "and runs made before this option).")
    r1_gamma: float = param(1.0, min=0.0, max=1000.0, help="R1 penalty on D's gradient at real images (0: off).")
    r1_every: int = param(16, min=1, max=1000, help="Lazy regularisation: R1 is taken every this many steps, scaled up to match.")
    pl_weight: float = param(0.0, min=0.0, max=100.0, help="Path-length regulariser weight (0: off; the paper: 2), taken every 4 steps.")
    ema_decay: float = param(0.998, min=0.0, max=0.99999, help="Samples come from a moving average of G with this decay; 0 samples the live G.")
    diffaugment: str = param("", help="DiffAugment policies for D's inputs (comma list of color, translation, cutout; empty: off); for folders of a few hundred images.")
    lr: float = param(2e-3, min=1e-6, max=1e-1, help="Learning rate of both nets (Adam), before the mapping net's multiplier.")
    beta1: float = param(0.0, min=0.0, max=0.999, help="Adam beta1.")
    beta2: float = param(0.99, min=0.0, max=0.9999, help="Adam beta2.")
    collapse_ratio: float = param(0.5, min=0.0, max=1.0, help="Warn of mode collapse when sample diversity falls below this share of the data's.")
    divergence_steps: int = param(200, min=10, max=1_000_000, help="Warn of divergence when D beats G outright for this many steps in a row.")

    def check(self) -> None:
        check_gan_options(self)


def preset_for_size(config: StyleGANConfig, size: int) -> StyleGANConfig:
    """CPU nets up to 32 px; at 64 px and above the paper's wider w and 8 mapping layers (for a GPU).
    At every size D downsamples before its blocks' second conv, as StyleGAN2 does; up to 32 px G's
    upsampling convs also run before the map is doubled, for more steps per CPU-second (the config's own
    defaults keep the layout of runs saved before those options, so they resume as they were)."""
    config = dataclasses.replace(config, d_downsample_first=True, g_upsample_last=size <= 32 or config.g_upsample_last)
    if size >= 64 and config.width == 16 and config.max_width == 64 and config.latent_dim == 64:
        return dataclasses.replace(config, latent_dim=256, mapping_layers=8, max_width=256, width=32)
    return config


@dataclass(frozen=True)
class StyleGANSampling:
    """StyleGAN's sampling options: truncation towards the mean w, and the space latents live in."""
    truncation: float = param(1.0, min=0.0, max=1.0, help=TRUNCATION_HELP + " StyleGAN moves each w this share "
                              "of the way from the mean w tracked in training (0: the mean image).")
    space: str = param("w", choices=SPACES, help="Latent space of decode(), random_latents() and interpolation: "
                       "w (the style space, smoother) or z (the noise before the mapping network).")


class StyleGANEngine(MilestoneGAN, StyleMixer):
    family = "stylegan"
    class_mixing = False
    sampling_config = StyleGANSampling

    def __init__(self, config: StyleGANConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.conditional = False
        self.space = "w"
        self.G = StyleGenerator(c.latent_dim, c.latent_dim, c.mapping_layers, c.mapping_lr_mul, data.size,
                                data.channels, c.width, c.max_width, c.g_upsample_last).to(self.device)
        self.D = StyleDiscriminator(data.size, data.channels, c.width, c.max_width,
                                    downsample_first=c.d_downsample_first).to(self.device)
        self._make_ema(self.G)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.policy = parse_policy(c.diffaugment)
        self.levels = style_levels(self.G.synthesis.sizes, self.G.synthesis.layer_res)
        self._state["pl_mean"] = 0.0
        self._state["r1"] = 0.0

    # --- training -------------------------------------------------------------------------------
    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy) if self.policy else x

    def _styles(self, n: int) -> torch.Tensor:
        """ws for a generated batch, mixing two w's at a random layer for `style_mixing` of batches."""
        G = self.G
        w = G.mapping(torch.randn(n, self.config.latent_dim, device=self.device))
        with torch.no_grad():  # the mean w, for truncation
            G.w_avg.lerp_(w.detach().mean(0), 1 - W_AVG_DECAY)
        ws = G.broadcast(w)
        if self.config.style_mixing > 0 and torch.rand(()) < self.config.style_mixing:
            w2 = G.mapping(torch.randn(n, self.config.latent_dim, device=self.device))
            cut = int(torch.randint(1, G.num_ws, ()))
            ws = torch.cat([ws[:, :cut], G.broadcast(w2)[:, cut:]], 1)
        return ws

    def train_step(self, batch: Batch, step: int | None = None, total: int | None = None) -> dict[str, float]:
        c, st = self.config, self._state
        index = self._step_index(step)
        self.G.train()
        self.D.train()
        real = batch.float()
        self._last_real, self._last_labels = batch.pixels, batch.labels
        n = real.shape[0]
        out: dict[str, float] = {}

        # --- discriminator, with R1 on real images every r1_every steps (lazy regularisation)
        with torch.no_grad():
            fake = self.G.synthesis(self._styles(n))
        r1_now = c.r1_gamma > 0 and index % c.r1_every == 0
        real_in = real.detach().requires_grad_(r1_now)
        d_real, d_fake = self.D(self._augment(real_in)), self.D(self._augment(fake))
        loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        total_d = loss_d
        if r1_now:
            grad, = torch.autograd.grad(d_real.sum(), real_in, create_graph=True)
            r1 = grad.flatten(1).pow(2).sum(1).mean()
            total_d = total_d + 0.5 * c.r1_gamma * c.r1_every * r1
            st["r1"] = r1.item()
        self.opt_d.zero_grad(set_to_none=True)
        total_d.backward()
        self._note("d_grad_norm", self.optimizer_step(self.opt_d, self.D))
        st["d_steps"] += 1
        self._record_scores(d_real, d_fake, SATURATION_GAP["bce"], as_probabilities=True)
        out["d_loss"] = loss_d.item()

        # --- generator, with the path-length regulariser every 4 steps when on
        self.D.requires_grad_(False)
        try:
            ws = self._styles(n)
            fake = self.G.synthesis(ws)
            loss_g = F.softplus(-self.D(self._augment(fake))).mean()
            total_g = loss_g
            if c.pl_weight > 0 and index % 4 == 0:
                total_g = total_g + 4 * c.pl_weight * self._path_length_penalty(max(1, n // 2))
            self.opt_g.zero_grad(set_to_none=True)
            total_g.backward()
        finally:
            self.D.requires_grad_(True)
        self._note("g_grad_norm", self.optimizer_step(self.opt_g, self.G))
        self._update_ema(self.G)
        st["g_loss"] = loss_g.item()
        out["g_loss"] = st["g_loss"]
        st["steps"] = index + 1
        return out

    def _path_length_penalty(self, n: int) -> torch.Tensor:
        """Keep |J_w^T y| (image change per unit style change, random image directions y) near its
        running mean: a smoother map from w to images."""
        st = self._state
        ws = self._styles(n)
        fake = self.G.synthesis(ws)
        y = torch.randn_like(fake) / (fake.shape[2] * fake.shape[3]) ** 0.5
        grad, = torch.autograd.grad((fake * y).sum(), ws, create_graph=True)
        lengths = grad.pow(2).sum(2).mean(1).sqrt()
        st["pl_mean"] = st["pl_mean"] + 0.01 * (lengths.mean().item() - st["pl_mean"])
        self._note("path_length", lengths.mean().item())
        return (lengths - st["pl_mean"]).pow(2).mean()

    @torch.no_grad()
    def monitor(self, step: int):
        metrics, findings = super().monitor(step)
        if self.config.r1_gamma > 0:
            metrics["r1_penalty"] = float(self._state["r1"])
        return metrics, findings

    # --- latents and sampling ------------------------------------------------------------------
    def sampling_options(self) -> StyleGANSampling:
        return StyleGANSampling(self.truncation, self.space)

    def sampling_limits(self) -> dict:
        return {}

    def apply_sampling_options(self, options: StyleGANSampling) -> None:
        self.truncation, self.space = float(options.truncation), options.space

    def _to_w(self, latents: torch.Tensor, g) -> torch.Tensor:
        latents = latents.to(self.device, torch.float32)
        return g.mapping(latents) if self.space == "z" else latents

    @torch.no_grad()
    def _draw(self, w: torch.Tensor, truncate: bool = True) -> torch.Tensor:
        """w (B, w_dim) or ws (B, num_ws, w_dim) -> images in [-1, 1] from the sampling generator."""
        g = self._sampling_generator()
        was = g.training
        g.eval()
        try:
            if truncate:
                w = g.truncate(w, self.truncation)
            ws = g.broadcast(w) if w.ndim == 2 else w
            return g.synthesis(ws)
        finally:
            g.train(was)

    @torch.no_grad()
    def _sampling_generator_output(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """z -> images without truncation (what the monitor judges)."""
        g = self._sampling_generator()
        return self._draw(g.mapping(z.to(self.device, torch.float32)), truncate=False)

    def sample(self, n: int, seed: int, labels=None, progress=None) -> np.ndarray:
        """z from the seed -> w -> (truncation) -> images; the same whatever the latent space option."""
        gen = torch.Generator().manual_seed(int(seed))
        z = torch.randn(n, self.config.latent_dim, generator=gen)
        g = self._sampling_generator()
        with torch.no_grad():
            return to_uint8(self._draw(g.mapping(z.to(self.device))))

    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        """z from the seed, mapped to w unless the space option is z."""
        gen = torch.Generator().manual_seed(int(seed))
        z = torch.randn(n, self.config.latent_dim, generator=gen)
        if self.space == "z":
            return z
        with torch.no_grad():
            g = self._sampling_generator()
            return g.mapping(z.to(self.device)).cpu()

    def decode(self, latents: torch.Tensor, labels=None, progress=None) -> np.ndarray:
        g = self._sampling_generator()
        with torch.no_grad():
            return to_uint8(self._draw(self._to_w(latents, g)))

    def render(self, latents: torch.Tensor, labels=None) -> torch.Tensor:
        g = self._sampling_generator()
        g.eval()
        return g.synthesis(g.broadcast(self._to_w(latents, g)))

    def export_forward(self, net, z: torch.Tensor, labels=None) -> torch.Tensor:
        return net.synthesis(net.broadcast(net.truncate(net.mapping(z), self.truncation)))

    def export_about(self) -> dict:
        return {"truncation": self.truncation, "latent": "z (mapped to w inside)"}

    def style_layers(self, level: str) -> list[int]:
        """Style indices of a level name or a comma list of them (coarse, middle, fine)."""
        names = [p.strip() for p in str(level).split(",") if p.strip()]
        bad = [n for n in names if n not in LEVELS]
        if bad or not names:
            raise ConfigError(f"level must be one of {', '.join(LEVELS)} (or a comma list), not {level!r}")
        layers = sorted({k for n in names for k in self.levels[n]})
        if not layers:
            raise ConfigError(f"at {self.data.size} px the generator has no {level} layers; use "
                              f"{' or '.join(k for k in LEVELS if self.levels[k])}")
        return layers

    def style_mix(self, row_seeds: list[int], col_seeds: list[int], level: str) -> np.ndarray:
        """The paper's style-mixing figure as images: uint8 (R + 1, C + 1, H, W, ch). Row 0 holds the
        column sources (cell 0 blank), column 0 the row sources; cell (i, j) draws column seed j with
        the `level` styles (coarse, middle or fine layers, or a comma list of them) taken from row
        seed i, so every cell of a row shares those styles. Truncation applies as when sampling."""
        layers = self.style_layers(level)
        if not row_seeds or not col_seeds:
            raise ConfigError("a style-mixing grid needs at least one row seed and one column seed")
        g = self._sampling_generator()

        def w_of(seed: int) -> torch.Tensor:
            gen = torch.Generator().manual_seed(int(seed))
            with torch.no_grad():
                w = g.mapping(torch.randn(1, self.config.latent_dim, generator=gen).to(self.device))
                return g.truncate(w, self.truncation)

        rows = torch.cat([w_of(s) for s in row_seeds])
        cols = torch.cat([w_of(s) for s in col_seeds])
        r, k = len(row_seeds), len(col_seeds)
        ws = g.broadcast(cols).unsqueeze(0).repeat(r, 1, 1, 1)                  # (R, C, num_ws, w_dim)
        ws[:, :, layers] = g.broadcast(rows)[:, None, layers]
        mixed = to_uint8(self._draw(ws.reshape(r * k, g.num_ws, -1), truncate=False))
        tops = to_uint8(self._draw(cols, truncate=False))
        lefts = to_uint8(self._draw(rows, truncate=False))
        h, w, ch = mixed.shape[1:]
        grid = np.full((r + 1, k + 1, h, w, ch), 255, np.uint8)
        grid[0, 1:] = tops
        grid[1:, 0] = lefts
        grid[1:, 1:] = mixed.reshape(r, k, h, w, ch)
        return grid


FAMILY = Family(
    name="stylegan", title="StyleGAN2-lite",
    description="Style-based generator: mapping network (0.01x LR), learned constant, modulated convs, "
                "per-layer noise, style mixing, lazy R1, EMA; latents in W, truncation, style-mixing "
                "grids (genstudio stylemix). Needs longer runs than SN-GAN to shine.",
    config_class=StyleGANConfig, engine_class=StyleGANEngine, preset=preset_for_size,
    train_preset=cpu_batch_preset)
