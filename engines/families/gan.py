"""GANs: one engine, several recipes (gan, dcgan, cgan, wgan-gp, sngan, sagan) as named defaults.

Options: MLP or DCGAN-shaped conv networks; losses non-saturating BCE, hinge or WGAN-GP (n_critic,
penalty weight); spectral norm on D and/or G; self-attention at chosen resolutions (SAGAN); class
conditioning on subfolder labels (embedding into G, projection discriminator); an exponential moving
average of G used for sampling; DiffAugment for small datasets; R1 penalty; separate G/D learning rates.

Live diagnostics: train_step returns losses only (the Losses panel scales its loss plot by them);
D(real)/D(fake) means and the gradient norms of G and D are averaged between monitor calls and
reported by monitor() as metrics (the panel's metric plot, metrics.jsonl). Every `monitor_every`
steps the sampling generator also draws a fixed batch, whose diversity in a fixed
random feature space is compared with the data's own (mode collapse), the discriminator's
saturation streak is checked (divergence), and for labelled data samples are assigned to classes
by the nearest class mean of real images in the same feature space (a cheap stand-in for a
classifier: it tracks class coverage and, for conditional runs, agreement with the requested class).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field, fields, make_dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import ConfigError, param
from ..sampling import LabelSampling
from ..nn import diversity
from ..nn.gan_blocks import (ConvDiscriminator, ConvGenerator, MLPDiscriminator, MLPGenerator, diff_augment,
                             ema_update, init_dcgan_weights, parse_policy, plan_resolutions)
from ..registry import Family
from .base import Batch, DataSpec, Engine, Finding, to_uint8
from .capabilities import LatentCodec, Sampler
from .base import class_weights

LOSSES = ("bce", "hinge", "wgan-gp")
MONITOR_SAMPLES = 64        # fixed batch drawn at every monitor call
MONITOR_SEED = 20_240_601   # its latents (and the random feature space) never change during a run
# Thresholds calibrated with benchmarks/gan_thresholds.py and benchmarks/gan_recipes.py on 3.6k 28 px
# digits (one thread, 40-100 CPU-s runs, monitor batch of 64). Healthy runs (dcgan and sngan variants:
# 21 runs at 100 CPU-s, 2 at 40) had a diversity ratio of 0.90-1.00 from step ~800 on, and the 12 that
# logged it no near-duplicates (share 0.00). Broken ones: frozen G (lr_g 1e-6) 0.10-0.15; the trained
# sngan generator fed 1 / 2 / 4 / 8 distinct latents 0.00 / 0.29 / 0.62 / 0.81; all with a near-duplicate
# share of 1.00. The ratio alone cannot see a collapse onto several modes (nor onto one digit class: 64
# real digits of one class score 0.72-0.94); the near-duplicate share can, so either one raises the warning.
COLLAPSE_WARMUP = 1000      # before this step a still-featureless generator is not called "collapsed"
NEAR_DUPLICATE = 0.15       # two samples closer than this share of the data's mean distance are duplicates
                            # (real digits: the closest pair in a batch of 64 is 0.25-0.31 of the mean)
DUPLICATE_SHARE = 0.5       # collapse when at least this share of the batch has a near duplicate (0.00 vs 1.00)
# D "wins outright" when mean D(real) - mean D(fake) exceeds this (logits for bce: sigmoid 0.95 vs 0.05).
# Longest streaks measured: healthy sngan 41 steps (early on), dcgan 0; D lr x10 (not diverging: its
# samples stayed varied) 58 (sngan) and 99 (dcgan); frozen G: every step from ~50 on (396 of 450 dcgan,
# 867 of 1000 sngan). Hence divergence_steps 200. The wgan-gp gap is not calibrated.
SATURATION_GAP = {"bce": 6.0, "hinge": 4.0, "wgan-gp": 50.0}


CONV = {"architecture": ("conv",)}   # settings of the convolutional nets only (forms hide them for mlp)


@dataclass(frozen=True)
class GANConfig:
    architecture: str = param("conv", choices=("conv", "mlp"), help="conv: DCGAN-shaped convolutional nets; mlp: the original fully connected GAN.")
    latent_dim: int = param(128, min=2, max=1024, help="Size of the noise vector z the generator starts from.")
    g_width: int = param(32, min=8, max=512, help="Conv generator: channels of its last hidden layer (doubles towards the start, up to 8x).", when=CONV)
    d_width: int = param(32, min=8, max=512, help="Conv discriminator: channels of its first layer (doubles with depth, up to 8x).", when=CONV)
    mlp_hidden: int = param(512, min=16, max=4096, help="MLP nets: units in each of the two hidden layers.", when={"architecture": ("mlp",)})
    loss: str = param("hinge", choices=LOSSES, help="bce: non-saturating GAN loss; hinge: SN-GAN/SAGAN; wgan-gp: Wasserstein critic with gradient penalty.")
    n_critic: int = param(1, min=1, max=10, help="Discriminator steps per generator step (5 for WGAN-GP); each training step is one D step.")
    gp_weight: float = param(10.0, min=0.0, max=1000.0, help="WGAN-GP: weight (lambda) of the gradient penalty.", when={"loss": ("wgan-gp",)})
    r1_gamma: float = param(0.0, min=0.0, max=1000.0, help="R1 penalty on D's gradient at real images (0: off); steadies D on small data.")
    spectral_norm_d: bool = param(True, help="Spectral normalisation of every discriminator layer (SN-GAN).")
    spectral_norm_g: bool = param(False, help="Spectral normalisation of the generator's layers too (SAGAN).")
    d_batch_norm: bool = param(False, help="Batch norm in the conv discriminator (classic DCGAN; off with spectral norm or WGAN-GP).", when=CONV)
    attention_at: str = param("", help="Self-attention at these feature-map sizes, comma separated (e.g. 16); empty: none (SAGAN uses one).", when=CONV)
    conditional: bool = param(False, help="Condition on subfolder labels when the data has them (class embedding in G, projection D).")
    ema_decay: float = param(0.995, min=0.0, max=0.99999, help="Samples come from a moving average of G with this decay; 0 samples the live G.")
    diffaugment: str = param("", help="DiffAugment policies applied to real and fake images for D (comma list of color, translation, cutout; empty: off). Off by default: on 3.6k digits at 100 CPU-s, translation made sngan's Fréchet distance worse and less steady; turn it on for a few hundred images or long runs, where D starts memorising the data.")
    lr_g: float = param(2e-4, min=1e-6, max=1e-1, help="Generator learning rate (Adam).")
    lr_d: float = param(4e-4, min=1e-6, max=1e-1, help="Discriminator learning rate (Adam).")
    beta1: float = param(0.0, min=0.0, max=0.999, help="Adam beta1; GANs use 0.5 or 0 instead of 0.9 for stability.")
    beta2: float = param(0.9, min=0.0, max=0.9999, help="Adam beta2.")
    real_label: float = param(1.0, min=0.5, max=1.0, help="BCE loss: target for real images; below 1 is one-sided label smoothing.", when={"loss": ("bce",)})
    collapse_ratio: float = param(0.5, min=0.0, max=1.0, help="Warn of mode collapse when sample diversity falls below this share of the data's (healthy runs: 0.9-0.95; collapsed: 0-0.3).")
    divergence_steps: int = param(200, min=10, max=1_000_000, help="Warn of divergence when D beats G outright for this many steps in a row (healthy runs: under 100).")

    def check(self) -> None:
        try:
            parse_policy(self.diffaugment)
        except ValueError as exc:
            raise ConfigError(f"diffaugment: {exc}") from None
        try:
            attention_sizes(self.attention_at)
        except ValueError:
            raise ConfigError(f"attention_at must be feature-map sizes separated by commas (e.g. 16), "
                              f"not {self.attention_at!r}") from None
        if self.loss == "wgan-gp" and self.d_batch_norm:
            raise ConfigError("wgan-gp needs d_batch_norm off: the gradient penalty is taken per image")


def attention_sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    if any(s < 1 for s in sizes):
        raise ValueError(text)
    return sizes


def _recipe_config(class_name: str, doc: str, **defaults) -> type:
    """A GANConfig subclass whose defaults are a named recipe (forms and `families` show them)."""
    base = {f.name: f for f in fields(GANConfig)}
    redeclared = [(k, base[k].type, field(default=v, metadata=base[k].metadata)) for k, v in defaults.items()]
    cls = make_dataclass(class_name, redeclared, bases=(GANConfig,), frozen=True, namespace={"__doc__": doc})
    cls.__module__ = __name__
    return cls


VanillaGANConfig = _recipe_config(
    "VanillaGANConfig", "Goodfellow et al. (2014): fully connected nets, BCE loss.",
    architecture="mlp", latent_dim=64, loss="bce", spectral_norm_d=False, ema_decay=0.0, diffaugment="",
    lr_d=2e-4, beta1=0.5, beta2=0.999)
DCGANConfig = _recipe_config(
    "DCGANConfig", "Radford et al. (2015): batch norm in both nets, BCE, Adam 2e-4/0.5, N(0, 0.02) init.",
    latent_dim=100, g_width=64, d_width=64, loss="bce", spectral_norm_d=False, d_batch_norm=True,
    ema_decay=0.0, diffaugment="", lr_d=2e-4, beta1=0.5, beta2=0.999)
SNGANConfig = _recipe_config(
    "SNGANConfig", "Small-data default: hinge loss, spectral norm in D, EMA of G, TTUR (D 4e-4, Adam 0/0.9); DiffAugment available.")
CGANConfig = _recipe_config(
    "CGANConfig", "The SN-GAN recipe conditioned on subfolder labels (projection discriminator).",
    conditional=True)
WGANGPConfig = _recipe_config(
    "WGANGPConfig", "Gulrajani et al. (2017): critic with gradient penalty, 5 critic steps, Adam 1e-4 (0, 0.9).",
    loss="wgan-gp", n_critic=5, spectral_norm_d=False, lr_g=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9,
    ema_decay=0.0, diffaugment="")
SAGANConfig = _recipe_config(
    "SAGANConfig", "Zhang et al. (2018): self-attention, spectral norm in both nets, hinge, TTUR (G 1e-4, D 4e-4).",
    spectral_norm_g=True, attention_at="16", lr_g=1e-4, lr_d=4e-4, beta1=0.0, beta2=0.9)


def preset_for_size(config, size: int):
    """Resolution-dependent defaults: narrower convs for large images (CPU), attention where it fits."""
    changes = {}
    if config.g_width == 32 and config.d_width == 32 and size >= 128:
        changes.update(g_width=16, d_width=16)
    if config.attention_at:
        base, doublings = plan_resolutions(size)
        ladder = [base * 2 ** i for i in range(doublings + 1)]
        # one attention block at the largest map of at most 16 px short of the output (quadratic cost)
        fitting = [r for r in ladder if r <= 16 and r < size] or [ladder[0]]
        changes["attention_at"] = str(fitting[-1])
    return dataclasses.replace(config, **changes)


class GANEngine(Engine, Sampler, LatentCodec):
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
                       "class_sums": [], "class_counts": [],
                       # sums since the last monitor call of the per-step diagnostics (not losses)
                       "interval_sums": {}, "interval_counts": {}}

    # --- training ---------------------------------------------------------------------------------
    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy) if self.policy else x

    def _d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        loss = self.config.loss
        if loss == "bce":
            target = torch.full_like(d_real, self.config.real_label)
            return (F.binary_cross_entropy_with_logits(d_real, target)
                    + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        if loss == "hinge":
            return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
        return d_fake.mean() - d_real.mean()

    def _g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "bce":  # non-saturating: maximise log D(G(z))
            return F.softplus(-d_fake).mean()
        return -d_fake.mean()

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, labels) -> torch.Tensor:
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad, = torch.autograd.grad(self.D(mixed, labels).sum(), mixed, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

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
    def _note(self, name: str, value: float) -> None:
        """Add a per-step diagnostic to the running sums that monitor() averages and reports."""
        sums, counts = self._state["interval_sums"], self._state["interval_counts"]
        sums[name] = sums.get(name, 0.0) + float(value)
        counts[name] = counts.get(name, 0) + 1

    def interval_means(self) -> dict[str, float]:
        """Means of D(real), D(fake) and the gradient norms since the last monitor call."""
        st = self._state
        return {k: v / st["interval_counts"][k] for k, v in st["interval_sums"].items()}

    def _monitor_latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        gen = torch.Generator().manual_seed(MONITOR_SEED)
        z = torch.randn(MONITOR_SAMPLES, self.config.latent_dim, generator=gen)
        labels = torch.arange(MONITOR_SAMPLES) % self.data.num_classes if self.conditional else None
        return z, labels

    @torch.no_grad()
    def monitor(self, step: int) -> tuple[dict[str, float], list[Finding]]:
        c, st = self.config, self._state
        metrics: dict[str, float] = self.interval_means()
        st["interval_sums"], st["interval_counts"] = {}, {}
        findings: list[Finding] = []

        real_features = None
        if self._last_real is not None and self._last_real.shape[0] >= 2:
            real_features = self._probe(self._last_real.float() / 127.5 - 1)
            # running mean over monitor calls: one batch is a noisy estimate of the data's diversity
            n = min(st["data_diversity_n"], 49)
            st["data_diversity"] = (st["data_diversity"] * n + diversity.mean_pairwise_distance(real_features)) / (n + 1)
            st["data_diversity_n"] += 1
            if self.data.num_classes > 0:
                self._update_class_means(real_features)

        z, labels = self._monitor_latents()
        fake = self._sampling_generator_output(z, labels)
        fake_features = self._probe(fake)
        sample_diversity = diversity.mean_pairwise_distance(fake_features)
        metrics["sample_diversity"] = sample_diversity
        reference = st["data_diversity"]
        if reference > 0:
            ratio = sample_diversity / reference
            metrics["diversity_vs_data"] = ratio
            duplicates = diversity.near_duplicate_share(fake_features, NEAR_DUPLICATE * reference)
            metrics["near_duplicates"] = duplicates
            findings += self._collapse_findings(step, ratio, duplicates)
        metrics.update(self._class_metrics(fake_features, labels))

        if st["saturated_streak"] >= c.divergence_steps:
            if not st["divergence_flagged"]:
                st["divergence_flagged"] = True
                findings.append(Finding(
                    "divergence",
                    f"The discriminator has beaten the generator outright for {st['saturated_streak']} steps in a "
                    f"row, so the generator is no longer learning. Roll back to the last checkpoint and try lower "
                    f"learning rates, spectral norm, or DiffAugment.", rollback=True))
        else:
            st["divergence_flagged"] = False
        metrics["d_saturated_steps"] = float(st["saturated_streak"])
        return metrics, findings

    def _collapse_findings(self, step: int, ratio: float, duplicates: float) -> list[Finding]:
        st, threshold = self._state, self.config.collapse_ratio
        collapsed = ratio < threshold or duplicates >= DUPLICATE_SHARE
        if not collapsed:
            st["diversity_peak"] = max(st["diversity_peak"], ratio)
        # a fresh generator draws near-identical blobs: only a fall from real variety (or a long wait) counts
        armed = st["diversity_peak"] >= threshold or step >= COLLAPSE_WARMUP
        if not collapsed:
            st["collapse_flagged"] = False
            return []
        if not armed or st["collapse_flagged"]:
            return []
        st["collapse_flagged"] = True
        return [Finding(
            "mode-collapse",
            f"Samples have become much less varied than the data (diversity {ratio:.0%} of the data's, "
            f"{duplicates:.0%} with a near-duplicate): the generator may be collapsing onto a few images. Roll back to the last checkpoint, or try "
            f"lower learning rates, DiffAugment or the sngan recipe.", rollback=True)]

    def _update_class_means(self, real_features: torch.Tensor) -> None:
        st, k = self._state, self.data.num_classes
        if not st["class_sums"]:
            st["class_sums"] = [[0.0] * real_features.shape[1] for _ in range(k)]
            st["class_counts"] = [0] * k
        labels = self._last_labels
        sums = torch.tensor(st["class_sums"], dtype=torch.float64)
        sums.index_add_(0, labels.cpu(), real_features.double().cpu())
        st["class_sums"] = sums.tolist()
        for y in labels.tolist():
            st["class_counts"][y] += 1

    def _class_metrics(self, fake_features: torch.Tensor, labels: torch.Tensor | None) -> dict[str, float]:
        st = self._state
        if not st["class_counts"]:
            return {}
        counts = torch.tensor(st["class_counts"], dtype=torch.float64)
        seen = counts > 0
        means = torch.tensor(st["class_sums"], dtype=torch.float64)[seen] / counts[seen, None]
        known = torch.nonzero(seen).flatten()
        assigned = known[diversity.nearest_mean(fake_features.cpu(), means)]
        per_class = torch.bincount(assigned, minlength=self.data.num_classes)
        out = {"classes_seen": float((per_class > 0).sum())}
        if labels is not None:
            out["class_agreement"] = float((assigned == labels).double().mean())
        if self.data.num_classes <= 16:
            for name, count in zip(self.data.class_names, per_class.tolist()):
                out[f"class_count/{name}"] = float(count)
        return out

    # --- sampling ---------------------------------------------------------------------------------
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

    def decode(self, latents: torch.Tensor, labels=None) -> np.ndarray:
        """Latents -> uint8 images; conditional runs draw `labels` (or the decode label) per image."""
        return to_uint8(self._sampling_generator_output(latents, self._labels_for(latents.shape[0], labels)))

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


def _family(name: str, title: str, description: str, config_class: type) -> Family:
    return Family(name=name, title=title, description=description, config_class=config_class,
                  engine_class=GANEngine, preset=preset_for_size)


GAN = _family("gan", "GAN (vanilla MLP)", "The original GAN: fully connected generator and discriminator, "
              "BCE loss. A baseline; blurry and unstable on anything but tiny images.", VanillaGANConfig)
DCGAN = _family("dcgan", "DCGAN", "Deep convolutional GAN with the classic recipe (BCE loss, batch norm, "
                "Adam 2e-4/0.5). Sharp samples when it works; watch for mode collapse and divergence.", DCGANConfig)
CGAN = _family("cgan", "Conditional GAN", "The SN-GAN recipe conditioned on subfolder labels: pick the class "
               "to draw. Trains unconditionally when the data has no subfolders.", CGANConfig)
WGAN_GP = _family("wgan-gp", "WGAN-GP", "Wasserstein critic with gradient penalty and 5 critic steps per "
                  "generator step: slow but hard to collapse.", WGANGPConfig)
SNGAN = _family("sngan", "SN-GAN (small-data default)", "Hinge loss, spectral norm and a moving-average "
                "generator (DiffAugment optional): the most reliable GAN for a few thousand images on a CPU.",
                SNGANConfig)
SAGAN = _family("sagan", "SAGAN", "SN-GAN with self-attention, spectral norm in both nets and separate "
                "learning rates (G 1e-4, D 4e-4): better long-range structure, slower per step.", SAGANConfig)

RECIPE_NAMES: dict[type, str] = {VanillaGANConfig: "gan", DCGANConfig: "dcgan", CGANConfig: "cgan",
                                 WGANGPConfig: "wgan-gp", SNGANConfig: "sngan", SAGANConfig: "sagan"}
