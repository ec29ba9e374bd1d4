"""Energy-based model: a CNN gives every image an energy, low for data and high for everything else.

The model is p(x) ∝ exp(-E(x)); its normaliser is intractable, so it trains by contrastive
divergence (Hinton 2002, in the form of Du & Mordatch 2019, "IGEBM"): push the energy of real
images down and the energy of the model's own samples up,

    loss = mean E(real) - mean E(sampled) + alpha * mean(E(real)^2 + E(sampled)^2)

where the samples come from short-run stochastic gradient Langevin dynamics (SGLD),

    x <- x - step * clip(dE/dx) + noise * N(0, 1)

started from a replay buffer of earlier samples (≈95%) or fresh uniform noise (≈5%), and written
back to the buffer afterwards; a few steps per training step then add up to long chains. The L2
term keeps the energies near zero (without it they drift apart without bound), and clipping the
gradient inside the sampler keeps one steep spot from throwing a chain out of the image range.

The replay buffer is the model's sample set while it trains: the sample grid shows images from the
buffer, and the buffer is a module, so checkpoints (exact resume) and exported models hold it.
`sample()` runs N Langevin steps from uniform noise (or from the buffer: sampling option
start=buffer), reports progress after every step and stops when the callback raises Cancelled.

The failure people hit most is divergence: the energies of real and sampled images run apart (the
sampler no longer reaches the data, the network then wins trivially). monitor() watches the energy
scale and the real/sampled gap and reports a Finding(kind="divergence", rollback=True).
There is no likelihood (the normaliser is unknown), so no bits/dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import param, replace_checked
from ..registry import Family
from .base import Batch, DataSpec, Engine, Finding, ProgressFn, to_uint8
from .capabilities import Energy, Sampler

STARTS = ("noise", "buffer")
LAYOUTS = ("refine", "strided")


@dataclass(frozen=True)
class EBMConfig:
    width: int = param(32, min=4, max=512, help="Channels of the first conv layer of the energy network (doubling with each halving, up to 4x).")
    layout: str = param("refine", choices=LAYOUTS, help="Energy network: refine (at each size a 3x3 conv, then a stride-2 conv halves the map; global average, linear read-out) or strided (every conv halves the map, down to about 2x2, then a small fully connected head: a fraction of the compute per Langevin step, the usual small net for digits).")
    spectral_norm: bool = param(False, help="Spectral normalisation on every layer: a smoother energy (steadier training, slower to sharpen).")
    lr: float = param(1e-4, min=1e-6, max=1e-2, help="Adam learning rate (betas 0.0, 0.999 as in IGEBM).")
    alpha: float = param(0.1, min=0.0, max=10.0, help="Weight of the L2 penalty on the energies of real and sampled images; keeps them near zero.")
    buffer_size: int = param(2000, min=4, max=100_000, help="Images in the replay buffer the Langevin chains start from (and return to).")
    reinit: float = param(0.05, min=0.0, max=1.0, help="Share of chains started from fresh uniform noise instead of the buffer each step.")
    sgld_steps: int = param(20, min=1, max=1000, help="Langevin steps per training step.")
    sgld_step_size: float = param(10.0, min=1e-4, max=1e4, help="Langevin step: x moves by this times the (clipped) energy gradient.")
    sgld_noise: float = param(0.005, min=0.0, max=1.0, help="Standard deviation of the Gaussian noise added at each Langevin step.")
    sgld_grad_clip: float = param(0.01, min=0.0, max=10.0, help="Clip each pixel's energy gradient to ±this inside the sampler (0: no clipping); keeps chains in range.")
    grad_clip: float = param(1.0, min=0.0, max=1e6, help="Clip the network's gradient norm to this unless the run's grad_clip setting is set (0: off).")
    sample_steps: int = param(100, min=1, max=10_000, help="Langevin steps when sampling (sampling option steps): from noise a chain needs a hundred or more; continuing the buffer's chains, a few dozen.")
    sample_start: str = param("noise", choices=STARTS, help="Where sampling chains start by default (sampling option start): noise (uniform noise, a real test of the model) or buffer (replay-buffer images, the persistent chains: what IGEBM and JEM show).")
    conditional: bool = param(False, help="JEM-style class-conditional model on labelled data: the network gives one logit per class, E(x, y) = -logit_y is the energy of x as class y (its logsumexp the energy of x); trained by contrastive divergence per class plus the classifier's cross-entropy, and sampling draws the class asked for.")
    classifier_weight: float = param(1.0, min=0.0, max=100.0, help="Conditional runs: weight of the cross-entropy of the real images' classes.")
    energy_limit: float = param(100.0, min=1.0, max=1e6, advanced=True, help="Report divergence when |energy| of real or sampled images exceeds this.")
    gap_limit: float = param(20.0, min=0.1, max=1e6, advanced=True, help="Report divergence when the sampled-minus-real energy gap exceeds this (the sampler no longer reaches the data).")


def preset(config: EBMConfig, size: int) -> EBMConfig:
    """CPU recipe up to 32 px: the strided energy net (the usual small net for digits; a fraction of the
    compute per Langevin step, so many more training steps fit a budget), 20 Langevin steps per training
    step with the per-pixel gradient clipped to 0.03, lr 2e-4, and samples that continue the replay
    buffer's persistent chains for 20 Langevin steps, as IGEBM and JEM show theirs (README, "Recipes at 28 px";
    benchmarks/recipes_28px.py). The 64 px preset (wider, 40 steps, lr 1e-4) is for GPUs and has not
    been measured."""
    if size <= 32:
        return replace_checked(config, layout="strided", width=16, lr=2e-4, sgld_steps=20, sgld_grad_clip=0.03,
                               buffer_size=2000, sample_start="buffer", sample_steps=20)
    return replace_checked(config, width=64, buffer_size=5000, sgld_steps=40)


def train_preset(size: int) -> dict:
    """Small batches (each step runs sgld_steps extra forward/backward passes); every grid is the buffer,
    so drawing one costs nothing."""
    return {"batch_size": 32, "sample_every": 100, "monitor_every": 20}


class EnergyNet(nn.Module):
    """Image (B, C, S, S) in [-1, 1] -> energy (B,). Stride-2 convs with Swish, then a linear read-out."""

    def __init__(self, channels: int, size: int, width: int, spectral: bool, outputs: int = 1,
                 layout: str = "refine"):
        super().__init__()

        def wrap(layer: nn.Module) -> nn.Module:
            return nn.utils.parametrizations.spectral_norm(layer) if spectral else layer

        self.layout = layout
        if layout == "strided":  # 5x5 stride 2 (padded), then 3x3 stride 2 until about 2x2; flatten, two linears
            layers = [wrap(nn.Conv2d(channels, width, 5, 2, 4)), nn.SiLU()]
            ch, s = width, (size + 3) // 2 + 1
            while s > 2:
                out = min(ch * 2, width * 4)
                layers += [wrap(nn.Conv2d(ch, out, 3, 2, 1)), nn.SiLU()]
                ch, s = out, (s + 1) // 2
            self.features = nn.Sequential(*layers, nn.Flatten(), wrap(nn.Linear(ch * s * s, ch)), nn.SiLU())
            self.out = wrap(nn.Linear(ch, outputs))
            return

        layers: list[nn.Module] = [wrap(nn.Conv2d(channels, width, 3, 1, 1)), nn.SiLU()]
        ch, s = width, size
        while s > 4:
            out = min(ch * 2, width * 4)
            layers += [wrap(nn.Conv2d(ch, out, 3, 1, 1)), nn.SiLU(), wrap(nn.Conv2d(out, out, 4 if s % 2 == 0 else 3, 2, 1)), nn.SiLU()]
            ch, s = out, (s + 1) // 2
        self.features = nn.Sequential(*layers)
        self.out = wrap(nn.Linear(ch, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, outputs): the energy (one output), or one logit per class (JEM)."""
        h = self.features(x)
        return self.out(h if self.layout == "strided" else h.mean(dim=(2, 3)))


class ReplayBuffer(nn.Module):
    """The persistent chains: images in [-1, 1], a module buffer so checkpoints and exports hold them."""

    def __init__(self, n: int, channels: int, size: int, classes: int = 0):
        super().__init__()
        self.register_buffer("images", torch.rand(n, channels, size, size) * 2 - 1)
        if classes:  # conditional runs: each slot holds a chain of one class, the classes in turn
            self.register_buffer("labels", torch.arange(n) % classes)


def langevin(energy, x: torch.Tensor, steps: int, step_size: float, noise: float, clip: float,
             generator: torch.Generator | None = None, progress: ProgressFn | None = None,
             params=None, known: torch.Tensor | None = None, values: torch.Tensor | None = None) -> torch.Tensor:
    """Short-run SGLD on `x`: x <- x - step * clip(dE/dx) + noise * N(0, 1), kept in [-1, 1]; where
    `known` is 1, x is reset to `values` before and after every step (inpainting with pixels clamped).

    The network's parameters get no gradients (only x does). With `generator` the noise comes from
    it (sampling, reproducible); without, from the global RNG (training, which the loop checkpoints)."""
    params = list(energy.parameters() if params is None else params)  # energy: a module or x -> (B,)
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        x = x.detach().clone()
        if known is not None:
            x = known * values + (1 - known) * x
        for i in range(steps):
            x.requires_grad_(True)
            with torch.enable_grad():
                grad, = torch.autograd.grad(energy(x).sum(), x)
            if clip > 0:
                grad = grad.clamp(-clip, clip)
            with torch.no_grad():
                x = x - step_size * grad
                if noise > 0:
                    eps = (torch.randn(x.shape, generator=generator) if generator is not None
                           else torch.randn(x.shape)).to(x.device)
                    x = x + noise * eps
                x = x.clamp(-1, 1)
                if known is not None:
                    x = known * values + (1 - known) * x
            if progress is not None:
                progress(i + 1, steps)
        return x.detach()
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


@dataclass(frozen=True)
class EBMSampling:
    """What `genstudio sample --set` and the Sampler panel may change; the run's settings are the defaults."""
    steps: int = param(100, min=1, max=100_000, help="Langevin steps from the starting images.")
    step_size: float = param(10.0, min=1e-6, max=1e4, help="Langevin step: x moves by this times the (clipped) energy gradient.")
    noise: float = param(0.005, min=0.0, max=1.0, help="Standard deviation of the noise added at each Langevin step.")
    start: str = param("noise", choices=STARTS, help="noise: chains start from uniform noise (a real test of the model). buffer: from random replay-buffer images (the persistent chains; cleaner).")


class EBMEngine(Engine, Sampler, Energy):
    process_state = {"replay_buffer": "sharded"}  # each process's own chains
    family = "ebm"
    class_settings = ("classifier_weight",)

    def __init__(self, config: EBMConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.conditional = bool(c.conditional and data.num_classes > 0)
        k = data.num_classes if self.conditional else 0
        self.net = EnergyNet(data.channels, data.size, c.width, c.spectral_norm, max(k, 1), c.layout).to(self.device)
        self.buffer = ReplayBuffer(c.buffer_size, data.channels, data.size, k).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=c.lr, betas=(0.0, 0.999))
        self.options = EBMSampling(c.sample_steps, c.sgld_step_size, c.sgld_noise, c.sample_start)
        self._last: dict[str, float] = {}    # energies of the latest step, for monitor()

    def energy(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) energies: of x, or (conditional runs, with labels) of x as that class, -logit_y."""
        out = self.net(x)
        if not self.conditional:
            return out[:, 0]
        if labels is None:
            return -torch.logsumexp(out, dim=1)
        return -out.gather(1, labels.view(-1, 1).to(out.device))[:, 0]

    def langevin(self, x: torch.Tensor, steps: int | None = None, noise: float | None = None,
                 known: torch.Tensor | None = None, values: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, progress: ProgressFn | None = None) -> torch.Tensor:
        """The Energy role: chains from x with the sampling options' step size (conditional runs:
        the class summed out), the network in eval mode and without gradients of its own."""
        o = self.options
        was = self.net.training
        self.net.eval()
        try:
            return langevin(self.energy, x, int(steps or o.steps), o.step_size, o.noise if noise is None else noise,
                            self.config.sgld_grad_clip, generator, progress, params=self.net.parameters(),
                            known=known, values=values)
        finally:
            self.net.train(was)

    def _chains(self, x, labels, steps, step_size, noise, generator=None, progress=None) -> torch.Tensor:
        return langevin(lambda v: self.energy(v, labels), x, steps, step_size, noise, self.config.sgld_grad_clip,
                        generator, progress, params=self.net.parameters())

    def _noise_images(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        shape = (n, self.data.channels, self.data.size, self.data.size)
        u = torch.rand(shape, generator=generator) if generator is not None else torch.rand(shape)
        return (u * 2 - 1).to(self.device)

    def _optimise(self, loss: torch.Tensor) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        return self.optimizer_step(self.opt, self.net, clip=self.config.grad_clip)

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        c = self.config
        real = batch.float()
        b = real.shape[0]
        idx = torch.randint(0, c.buffer_size, (b,)).to(self.device)
        start = self.buffer.images[idx]
        fresh = (torch.rand(b) < c.reinit).to(self.device)
        start = torch.where(fresh[:, None, None, None], self._noise_images(b), start)
        y_fake = self.buffer.labels[idx] if self.conditional else None
        self.net.eval()  # no spectral-norm power iteration inside the chains
        fake = self._chains(start, y_fake, c.sgld_steps, c.sgld_step_size, c.sgld_noise)
        self.buffer.images[idx] = fake
        self.net.train()
        out_real = self.net(real)
        if self.conditional:
            e_real = -out_real.gather(1, batch.labels.view(-1, 1))[:, 0]
        else:
            e_real = out_real[:, 0]
        e_fake = self.energy(fake, y_fake)
        cd = e_real.mean() - e_fake.mean()
        loss = cd + c.alpha * (e_real.pow(2).mean() + e_fake.pow(2).mean())
        extra = {}
        if self.conditional:
            ce = F.cross_entropy(out_real, batch.labels)
            loss = loss + c.classifier_weight * ce
            extra = {"classifier_ce": ce.item()}
        norm = self._optimise(loss)
        er, ef = e_real.mean().item(), e_fake.mean().item()
        self._last = {"energy_real": er, "energy_sampled": ef}
        return {"loss": loss.item(), "contrastive": cd.item(), "energy_real": er, "energy_sampled": ef,
                **extra, "grad_norm": norm}

    def monitor(self, step: int) -> tuple[dict[str, float], list[Finding]]:
        if not self._last:
            return {}, []
        er, ef = self._last["energy_real"], self._last["energy_sampled"]
        gap = ef - er
        values = {"energy_gap": gap}
        findings = []
        c = self.config
        if not (math.isfinite(er) and math.isfinite(ef)) or max(abs(er), abs(ef)) > c.energy_limit:
            findings.append(Finding("divergence", f"the energies blew up (real {er:.3g}, sampled {ef:.3g}; "
                                    f"limit {c.energy_limit:g}): roll back and lower the learning rate, raise "
                                    f"alpha or turn on spectral_norm", rollback=True))
        elif gap > c.gap_limit:
            findings.append(Finding("divergence", f"sampled images have far higher energy than real ones "
                                    f"(gap {gap:.3g} > {c.gap_limit:g}): the Langevin chains no longer reach the "
                                    f"data; roll back, or use more sgld_steps or a larger sgld_step_size", rollback=True))
        return values, findings

    @torch.no_grad()
    def validate(self, batches) -> dict[str, float]:
        """Mean energy of held-out real images beside that of the replay buffer (what the model samples)."""
        self.net.eval()
        total, count, correct = 0.0, 0, 0
        for batch in batches:
            labels = batch.labels if self.conditional else None
            e = self.energy(batch.float(), labels)
            total += float(e.sum())
            count += e.shape[0]
            if self.conditional:
                correct += int((self.net(batch.float()).argmax(1) == batch.labels).sum())
        self.net.train()
        if not count:
            return {}
        buf = self.buffer.images[:256]
        e_buf = float(self.energy(buf, self.buffer.labels[:256] if self.conditional else None).mean())
        held_out = total / count
        out = {"energy_real": held_out, "energy_buffer": e_buf, "energy_gap": e_buf - held_out}
        if self.conditional:
            out["accuracy"] = correct / count
        return out

    # --- sampling ----------------------------------------------------------------------------------
    sampling_config = EBMSampling

    def sampling_options(self) -> EBMSampling:
        return self.options

    def apply_sampling_options(self, options: EBMSampling) -> None:
        self.options = options

    def _labels(self, n: int, labels) -> torch.Tensor | None:
        """Classes to draw (conditional runs): the given ones, else the classes in turn."""
        if not self.conditional:
            return None
        k = self.data.num_classes
        y = np.arange(n) % k if labels is None else np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(y) != n:
            raise ValueError(f"got {len(y)} labels for {n} samples")
        if len(y) and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"labels must lie in 0..{k - 1}")
        return torch.from_numpy(y).to(self.device)

    def _slots(self, n: int, labels: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        """n buffer slots, of the given classes on conditional runs (slot i holds class i mod K)."""
        size = self.config.buffer_size
        if labels is None:
            return torch.randperm(size, generator=gen)[:n] if n <= size else torch.randint(0, size, (n,), generator=gen)
        k = self.data.num_classes
        y = labels.cpu()
        per_class = (size - y + k - 1) // k          # slots y, y + k, y + 2k, ... below size
        pick = (torch.rand(n, generator=gen) * per_class).long().clamp(max=per_class - 1)
        return y + k * pick

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> np.ndarray:
        """`steps` Langevin steps from uniform noise (or from buffer images with start=buffer), on
        conditional runs towards the classes asked for (else the classes in turn); progress(done, total)
        after each step may raise Cancelled to stop."""
        gen = torch.Generator().manual_seed(int(seed))
        o = self.options
        y = self._labels(n, labels)
        if o.start == "buffer":
            x = self.buffer.images[self._slots(n, y, gen).to(self.device)]
        else:
            x = self._noise_images(n, gen)
        was_training = self.net.training
        self.net.eval()
        try:
            x = self._chains(x, y, o.steps, o.step_size, o.noise, gen, progress)
        finally:
            self.net.train(was_training)
        return to_uint8(x)

    @torch.no_grad()
    def preview(self, n: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        """The replay buffer is the sample set while training: n of its images (the same slots each
        time; on conditional runs, chains of the classes asked for)."""
        gen = torch.Generator().manual_seed(int(seed))
        y = self._labels(n, labels) if labels is not None else None
        return to_uint8(self.buffer.images[self._slots(n, y, gen).to(self.device)])

    # --- state ---------------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"energy": self.net, "replay_buffer": self.buffer}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt}

    def extra_state(self) -> dict:
        return {"last": dict(self._last)}

    def load_extra_state(self, state: dict) -> None:
        self._last = {k: float(v) for k, v in state.get("last", {}).items()}


FAMILY = Family(
    name="ebm",
    title="Energy-based model (EBM)",
    description="A CNN scores images with an energy, low for data; trained by contrastive divergence against "
                "short-run Langevin samples from a replay buffer (the buffer is the live sample grid). Samples by "
                "Langevin dynamics from noise; no likelihood. Watch for divergence.",
    config_class=EBMConfig,
    engine_class=EBMEngine,
    preset=preset,
    train_preset=train_preset,
)
