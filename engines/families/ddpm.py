"""Denoising diffusion (DDPM, Ho et al. 2020) with DDIM and ancestral sampling.

Training: pick t, noise the image to x_t, ask a U-Net for v (default) or for the noise (eps), mean
squared error (optionally min-SNR weighted). v is the default because the image implied by an
eps-prediction divides by sqrt(alpha_bar), ~5e-5 at the noisiest cosine step: a DDIM step of 20
timesteps from there writes the amplified (clipped) network error into x_t as speckle that stays.
An exponential moving average of the weights is what samples by default. With labels, the class
is fed to the network and dropped with probability `label_dropout`, so the same network also
learns the unconditional model and classifier-free guidance (Ho & Salimans 2022) can mix the two
at sampling time.

The maths of schedules and samplers is in engines/diffusion/, independent of the network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import ConfigError, param
from ..diffusion.samplers import SAMPLERS, AncestralScheduler, DDIMScheduler, Scheduler, denoise, invert, make_scheduler
from ..diffusion.schedule import PREDICTIONS, SCHEDULES, NoiseSchedule
from ..nn.ema import EMA
from ..nn.export_helpers import Call, example_labels, plain_copy
from ..nn.unet import UNet, parse_mults
from ..registry import Family
from .base import Batch, DataSpec, Engine, ProgressFn, to_uint8
from .capabilities import DenoisingPath, Exportable, ExportedNetwork, LatentCodec, Prior, Sampler
from .base import class_weights


@dataclass(frozen=True)
class UNetPriorConfig:
    """The settings every U-Net prior shares (ddpm, flow-matching): the network, its optimisation and
    weight average, and class conditioning with guidance."""
    # --- network ---
    base_channels: int = param(32, min=8, max=512, help="Channels at full resolution; the U-Net's width. 32 trains on a CPU, 64-128 wants a GPU.")
    channel_mults: str = param("1,2,2", help="Width multiplier per U-Net level, comma separated; the image halves between levels (28 px with 1,2,2: 28, 14, 7).")
    patch_size: int = param(1, choices=(1, 2, 4), help="Fold patch x patch pixel blocks into channels so the U-Net runs at size/patch: 2 is 4x cheaper, good for 28-64 px on a CPU.")
    num_res_blocks: int = param(1, min=1, max=4, help="Residual blocks per level (2 is the paper's choice; 1 is faster).")
    attention_resolution: int = param(8, min=0, max=64, help="Self-attention on feature maps this size or smaller (0: none).")
    dropout: float = param(0.1, min=0.0, max=0.5, help="Dropout inside residual blocks; helps on small datasets.")
    # --- optimisation ---
    lr: float = param(1e-3, min=1e-6, max=1e-2, help="Adam learning rate.")
    lr_warmup: int = param(100, min=0, max=100_000, help="Steps over which the learning rate ramps up from 0.")
    grad_clip: float = param(1.0, min=0.0, max=100.0, help="Clip the gradient norm to this unless the run's own grad_clip setting is set (0: no clipping).")
    ema_decay: float = param(0.999, min=0.0, max=0.99999, help="Decay of the weight average used for sampling (0: sample with the raw weights).")
    ema_warmup: bool = param(True, help="Let the average start fast and slow down, decay = min(ema_decay, (1+n)/(10+n)), so early samples are not dominated by the random start.")
    # --- conditioning ---
    conditional: bool = param(True, help="Use class labels when the data has them (subfolders).")
    label_dropout: float = param(0.1, min=0.0, max=0.5, help="Share of training images shown without their label, so guidance can work.")
    guidance: float = param(2.0, min=0.0, max=20.0, help="Classifier-free guidance scale for conditional runs: 1 = plain conditional, higher = more typical of the class.")

    def check(self) -> None:
        try:
            parse_mults(self.channel_mults)
        except ValueError as exc:
            raise ConfigError(f"channel_mults: {exc}") from None


@dataclass(frozen=True)
class DDPMConfig(UNetPriorConfig):
    # --- diffusion ---
    schedule: str = param("cosine", choices=SCHEDULES, help="Noise schedule: linear (Ho et al.) or cosine (Nichol & Dhariwal; better at small sizes).")
    timesteps: int = param(1000, min=10, max=4000, help="Diffusion steps T used in training (the full ancestral sampler visits all of them).")
    prediction: str = param("v", choices=PREDICTIONS, help="What the network predicts: v = sqrt(a) eps - sqrt(1-a) x0 (steady at every noise level, so few-step DDIM stays clean) or the noise eps (Ho et al.; with DDIM at eta 0 some samples keep speckle, eta 0.5 helps).")
    min_snr_gamma: float = param(5.0, min=0.0, max=100.0, help="Min-SNR loss weighting gamma (Hang et al.); 0 turns it off (plain MSE).")
    # --- sampling defaults (changeable at sampling time) ---
    sampler: str = param("ddim", choices=SAMPLERS, help="ddim (fast, deterministic at eta 0) or ancestral (the original DDPM sampler).")
    sample_steps: int = param(50, min=1, max=4000, help="Denoising steps when sampling, for either sampler (fewer is faster; the training T is the most).")
    preview_steps: int = param(20, min=1, max=4000, help="DDIM steps for the sample grids drawn during training (never more than sample_steps); fewer keeps training time for training.")
    eta: float = param(0.5, min=0.0, max=1.0, help="DDIM noise: 0 deterministic, 1 as noisy as ancestral sampling; some fresh noise corrects the network's errors (why 0.5: README, 'Why the recipes are what they are'); a seed still gives the same images.")


def preset(config: UNetPriorConfig, size: int) -> UNetPriorConfig:
    """(ddpm and flow-matching) Sized so a few thousand images train on a CPU in minutes; widen base_channels on a GPU."""
    if size <= 16 or size % 2:
        return replace(config, patch_size=1, channel_mults="1,2", attention_resolution=8)
    if size <= 32:   # patch 2: 28 px runs at 14 -> 7, 32 px at 16 -> 8
        return replace(config, patch_size=2, channel_mults="1,2", attention_resolution=8)
    return replace(config, patch_size=2, channel_mults="1,2,2", attention_resolution=8)  # 64: 32 -> 16 -> 8


@dataclass(frozen=True)
class DDPMSampling:
    """What `genstudio sample --set` and the Sampler panel may change; the run's own settings are the defaults."""
    sampler: str = param("ddim", choices=SAMPLERS, help="ddim (fast, deterministic at eta 0) or ancestral (the original DDPM sampler).")
    steps: int = param(50, min=1, max=4000, help="Denoising steps (fewer is faster; at most the run's training T).")
    eta: float = param(0.5, min=0.0, max=1.0, help="DDIM noise: 0 deterministic, 1 as noisy as ancestral sampling.")
    guidance: float = param(2.0, min=0.0, max=20.0, help="Classifier-free guidance scale for conditional runs: 1 = plain conditional, higher = more typical of the class.")
    ema: bool = param(True, help="Sample with the weight average (when the run keeps one).")


class UNetPrior(Engine):
    """What ddpm and flow-matching share: the U-Net with an optional class embedding (one extra "no
    label" row), Adam with warm-up, the weight average that samples, label dropout in training and
    classifier-free guidance (Ho & Salimans 2022) at sampling time. A subclass supplies the objective
    (train_step, validate) and the sampler; `options` holds its sampling options."""
    best_metric = "loss"  # held-out prediction error from validate(): lower is better
    class_mixing = True  # conditional runs: a mix of class embeddings, guided against the "no label" row
    class_settings = ("label_dropout", "guidance")
    options: object

    # the prior role's image space, the same for every pixel-space U-Net prior
    def prior_shape(self) -> tuple[int, ...]:
        return (self.data.channels, self.data.size, self.data.size)

    def to_space(self, images: np.ndarray) -> torch.Tensor:
        return self._images_to_tensor(images)

    def from_space(self, x: torch.Tensor, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> np.ndarray:
        return to_uint8(x)

    def __init__(self, config: UNetPriorConfig, data: DataSpec, device="cpu"):
        super().__init__(config, data, device)
        c = config
        self.conditional = bool(c.conditional and data.num_classes > 0)
        self.null_label = data.num_classes
        if data.size % c.patch_size:
            raise ConfigError(f"patch_size {c.patch_size} does not divide the image size {data.size}; use 1 or 2")
        self.net = UNet(data.size, data.channels, c.base_channels, parse_mults(c.channel_mults), c.num_res_blocks,
                        c.attention_resolution, c.dropout, data.num_classes if self.conditional else 0,
                        c.patch_size).to(self.device)
        self.ema = EMA(self.net, c.ema_decay, c.ema_warmup).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        warm = max(1, c.lr_warmup)
        self.lr_sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda step: min(1.0, (step + 1) / warm))

    # --- training ---------------------------------------------------------------------------------------
    def _training_labels(self, batch: Batch) -> torch.Tensor | None:
        """The batch's labels, each replaced by "no label" with probability label_dropout (None: unconditional)."""
        if not self.conditional:
            return None
        drop = torch.rand(len(batch.labels), device=self.device) < self.config.label_dropout
        return torch.where(drop, torch.full_like(batch.labels, self.null_label), batch.labels)

    def _learn(self, loss: torch.Tensor) -> float:
        """Backward, clipped optimiser step, learning-rate warm-up and weight average; the gradient norm."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = self.optimizer_step(self.opt, self.net, clip=self.config.grad_clip)  # diffusion trains best clipped
        self.lr_sched.step()
        if self.config.ema_decay > 0:
            self.ema.update(self.net)
        return grad_norm

    def _times(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n training times of the objective (drawn from `generator` when given, else the global stream)."""
        raise NotImplementedError

    def _prediction(self, net: nn.Module, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor,
                    labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The objective: what `net` predicts for clean images x0 noised by eps at times t, and its target."""
        raise NotImplementedError

    def _training_prediction(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The objective on a training batch (fresh times and noise, labels dropped at random): the
        prediction in fp32 (the loss in fp32 even under bf16 autocast), its target and the times."""
        self.net.train()
        x0 = batch.float()
        t = self._times(x0.shape[0])
        eps = torch.randn_like(x0)
        labels = self._training_labels(batch)
        out, target = self._prediction(self.net, x0, eps, t, labels)
        return out.float(), target, t

    @torch.no_grad()
    def validate(self, batches) -> dict[str, float]:
        """The objective's prediction MSE on held-out images at fixed times and noise (the same draws
        every time): noise (or v) for ddpm, velocity for flow matching."""
        gen = torch.Generator().manual_seed(1234)
        total, count = 0.0, 0
        net = self._sampling_net()
        for batch in batches:
            x0 = batch.float()
            t = self._times(x0.shape[0], gen)
            eps = torch.randn(x0.shape, generator=gen).to(self.device)
            labels = batch.labels if self.conditional else None
            out, target = self._prediction(net, x0, eps, t, labels)
            total += F.mse_loss(out, target, reduction="sum").item() / x0[0].numel()
            count += x0.shape[0]
        return {"loss": total / max(count, 1)}

    # --- sampling options ---------------------------------------------------------------------------------
    def sampling_options(self):
        return self.options

    def apply_sampling_options(self, options) -> None:
        self.options = options

    def _sampling_net(self) -> nn.Module:
        return self.ema.network if self.options.ema and self.config.ema_decay > 0 else self.net

    def _labels(self, n: int, labels) -> torch.Tensor | None:
        """Class labels for sampling: the given ones, else the classes in turn; None when unconditional."""
        if not self.conditional:
            return None
        if labels is None:
            labels = np.arange(n) % self.data.num_classes
        soft = class_weights(labels, n, self.data.num_classes)
        if soft is not None:  # a mix of class embeddings; the extra column is the 'no label' row's weight
            return F.pad(soft, (0, 1)).to(self.device)
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(-1)
        if labels.numel() != n:
            raise ValueError(f"got {labels.numel()} labels for {n} images")
        if (labels < 0).any() or (labels > self.null_label).any():
            raise ValueError(f"labels must lie in 0..{self.data.num_classes - 1} ({self.data.num_classes} means none)")
        return labels.to(self.device)

    def _null_like(self, labels: torch.Tensor) -> torch.Tensor:
        """The 'no label' conditioning in the same form as `labels` (indices, or class weights)."""
        if labels.is_floating_point():
            return F.one_hot(torch.full(labels.shape[:1], self.null_label, device=labels.device),
                             labels.shape[1]).to(labels.dtype)
        return torch.full_like(labels, self.null_label)

    def _null_labels(self, n: int) -> torch.Tensor | None:
        return torch.full((n,), self.null_label, device=self.device, dtype=torch.long) if self.conditional else None

    def _given_or_null(self, n: int, labels) -> torch.Tensor | None:
        """The latent space's conditioning: the given classes, else the unconditional ('no label') branch."""
        return self._labels(n, labels) if labels is not None else self._null_labels(n)

    def _guided(self, labels: torch.Tensor | None, guidance: float | None = None):
        """network(x, t) with classifier-free guidance, out_u + w (out_c - out_u), one batched pass;
        t is a (B,) tensor in the network's time units."""
        net = self._sampling_net()
        w = self.options.guidance if guidance is None else guidance

        def run(x: torch.Tensor, tt: torch.Tensor) -> torch.Tensor:
            if labels is None or w == 1.0:
                return net(x, tt, labels)
            null = self._null_like(labels)
            if w == 0.0:
                return net(x, tt, null)
            both = net(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, null]))
            cond, uncond = both.chunk(2)
            # every prediction here (eps, v, velocity) is linear in the noise at fixed x_t: mixing them is one mix
            return uncond + w * (cond - uncond)
        return run

    def _noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        shape = (n, self.data.channels, self.data.size, self.data.size)
        return torch.randn(shape, generator=generator).to(self.device)

    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn((n, self.data.channels, self.data.size, self.data.size), generator=gen)

    def _images_to_tensor(self, images: np.ndarray) -> torch.Tensor:
        images = np.asarray(images)
        if images.ndim == 3 and self.data.channels == 1:
            images = images[..., None]
        want = (self.data.size, self.data.size, self.data.channels)
        if images.ndim != 4 or images.shape[1:] != want or images.dtype != np.uint8:
            raise ValueError(f"expected uint8 images of shape (N, {want[0]}, {want[1]}, {want[2]}); got "
                             f"{images.dtype} {images.shape}")
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
        return x.to(self.device)

    def _export_step(self, t: torch.Tensor, time_scale: float, output: str, about: dict) -> ExportedNetwork:
        """The sampling U-Net as one step's network, (x_t, t [, labels]) -> `output`; the network sees
        t * time_scale. `t`: example times, one per row."""
        spec, cond = self.data, self.conditional
        net = plain_copy(self._sampling_net())
        x = torch.randn(len(t), spec.channels, spec.size, spec.size)
        about = {**about, "null_label": self.null_label if cond else None}

        def scaled(t):
            return t if time_scale == 1 else t * time_scale
        if cond:
            module = Call(net, lambda net, x_t, t, labels: net(x_t, scaled(t), labels), ("x_t", "t", "labels"))
            return ExportedNetwork(module, {"x_t": x, "t": t, "labels": example_labels(len(t), spec.num_classes)},
                                   output, about)
        module = Call(net, lambda net, x_t, t: net(x_t, scaled(t), None), ("x_t", "t"))
        return ExportedNetwork(module, {"x_t": x, "t": t}, output, about)

    # --- state ----------------------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"unet": self.net, "ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"unet": self.opt}

    def schedulers(self) -> dict[str, object]:
        return {"lr": self.lr_sched}


class DDPMEngine(UNetPrior, Sampler, LatentCodec, DenoisingPath, Prior, Exportable):
    family = "ddpm"
    encoding = "DDIM inversion (running the deterministic sampler backwards)"

    def __init__(self, config: DDPMConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.schedule = NoiseSchedule(c.schedule, c.timesteps)
        self.options = DDPMSampling(c.sampler, min(c.sample_steps, c.timesteps), c.eta, c.guidance, ema=c.ema_decay > 0)

    # --- training ---------------------------------------------------------------------------------------
    def _times(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is None:
            return torch.randint(0, self.config.timesteps, (n,), device=self.device)
        return torch.randint(0, self.config.timesteps, (n,), generator=generator).to(self.device)

    def _prediction(self, net: nn.Module, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor,
                    labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        return net(self.schedule.add_noise(x0, eps, t), t, labels), self.schedule.target(self.config.prediction, x0, eps, t)

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        out, target, t = self._training_prediction(batch)
        per_image = F.mse_loss(out, target, reduction="none").mean(dim=(1, 2, 3))
        if self.config.min_snr_gamma > 0:
            weight = self.schedule.min_snr_weight(t, self.config.min_snr_gamma, self.config.prediction).to(self.device)
            loss = (weight * per_image).mean()
        else:
            loss = per_image.mean()
        grad_norm = self._learn(loss)
        return {"loss": loss.item(), "mse": per_image.mean().item(), "grad_norm": grad_norm}

    # --- sampling options ---------------------------------------------------------------------------------
    sampling_config = DDPMSampling

    def sampling_limits(self) -> dict:
        return {"steps": {"max": self.config.timesteps}}

    def _scheduler(self, steps: int | None = None, sampler: str | None = None) -> Scheduler:
        return make_scheduler(sampler or self.options.sampler, self.schedule, self.config.prediction,
                              steps or self.options.steps, self.options.eta)

    def _denoiser(self, labels: torch.Tensor | None, guidance: float | None = None):
        """network(x, t) with classifier-free guidance; t a python int shared by the batch."""
        guided = self._guided(labels, guidance)

        def run(x: torch.Tensor, t: int) -> torch.Tensor:
            return guided(x, torch.full((x.shape[0],), int(t), device=self.device, dtype=torch.long))
        return run

    @torch.no_grad()
    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> np.ndarray:
        images, _ = self._run(n, seed, labels, progress, keep=set())
        return images

    def _run(self, n, seed, labels, progress, keep, constrain=None, start=None):
        gen = torch.Generator().manual_seed(int(seed))
        x = self._noise(n, gen) if start is None else start.to(self.device, torch.float32)
        scheduler = self._scheduler()
        x, snaps = denoise(self._denoiser(self._labels(n, labels)), scheduler, x, gen, progress, keep, constrain)
        return to_uint8(x), snaps

    @torch.no_grad()
    def preview(self, n: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        """Training-time grids: DDIM with preview_steps, so a CPU run spends its time training
        (64 images x 50 guided steps would cost about as much as 50-100 training steps)."""
        saved = self.options
        steps = max(1, min(self.config.preview_steps, saved.steps))
        self.options = replace(saved, sampler="ddim", steps=steps)
        try:
            return self.sample(n, seed, labels)
        finally:
            self.options = saved

    @torch.no_grad()
    def sample_path(self, n: int, seed: int, labels: np.ndarray | None = None, keep_steps: int = 8,
                    progress: ProgressFn | None = None) -> tuple[np.ndarray, list[int]]:
        """The denoising path: (frames uint8 (K, n, H, W, C), timestep of each frame; -1 is the result).

        K = keep_steps snapshots evenly spread from the starting noise to the final image; the last
        frame equals sample(n, seed, labels) with the same options."""
        total = len(self._scheduler().timesteps)
        keep_steps = max(2, min(int(keep_steps), total + 1))
        keep = {int(round(v)) for v in np.linspace(0, total, keep_steps)}
        _, snaps = self._run(n, seed, labels, progress, keep)
        frames = np.stack([to_uint8(x) for _, x in snaps])
        return frames, [t for t, _ in snaps]

    def sampling_times(self, step_counts=(10, 25, 50, 100), n: int = 4, seed: int = 0) -> list[tuple[int, float]]:
        """(DDIM steps, seconds per image) for each step count: what fewer steps save."""
        out = []
        saved = self.options
        try:
            for steps in step_counts:
                self.options = replace(saved, sampler="ddim", steps=int(steps))
                t0 = time.perf_counter()
                self.sample(n, seed)
                out.append((int(steps), (time.perf_counter() - t0) / n))
        finally:
            self.options = saved
        return out

    # --- latent space: deterministic DDIM (eta = 0) ---------------------------------------------------
    def _ddim(self) -> DDIMScheduler:
        s = DDIMScheduler(self.schedule, self.config.prediction, eta=0.0, clip=False)
        s.set_timesteps(max(2, self.options.steps))
        return s

    @torch.no_grad()
    def encode(self, images: np.ndarray, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> torch.Tensor:
        """Real images -> the noise that decode() maps back onto them (DDIM inversion, no guidance).

        Without labels a conditional model inverts with its unconditional ('no label') branch."""
        x = self._images_to_tensor(images)
        lab = self._given_or_null(len(x), labels)
        return invert(self._denoiser(lab, guidance=1.0), self._ddim(), x, progress).cpu()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> np.ndarray:
        """Noise -> images by deterministic DDIM (eta = 0, no guidance): the inverse of encode()."""
        x = torch.as_tensor(latents, dtype=torch.float32).to(self.device)
        lab = self._given_or_null(len(x), labels)
        x, _ = denoise(self._denoiser(lab, guidance=1.0), self._ddim(), x, None, progress)
        return to_uint8(x)

    # --- the prior role (engines/tools/diffusion.py builds inpainting, denoising, upscaling on it) ---
    @property
    def prediction(self) -> str:
        return self.config.prediction

    def prior_times(self) -> range:
        return range(self.config.timesteps)

    def noise_level(self, t) -> tuple[float, float]:
        ab = float(self.schedule.alpha_bar_at(int(t), torch.zeros(1)).reshape(()))
        return ab ** 0.5, max(0.0, 1.0 - ab) ** 0.5

    def denoiser(self, labels: np.ndarray | None = None, guidance: float | None = None):
        if labels is None or not self.conditional:
            return lambda x, t: self._denoiser(self._null_labels(len(x)), guidance=1.0)(x, t)
        return self._denoiser(self._labels(len(labels), labels), guidance)

    def prediction_target(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        tt = torch.full((len(x0),), int(t), dtype=torch.long, device=x0.device)
        return self.schedule.target(self.config.prediction, x0, noise, tt)

    def prior_sampler(self, steps: int | None = None, start=None, deterministic: bool = False,
                      clip: bool = True) -> Scheduler:
        o = self.options
        steps = int(steps or o.steps)
        if deterministic:
            s: Scheduler = DDIMScheduler(self.schedule, self.config.prediction, eta=0.0, clip=clip)
        elif o.sampler == "ancestral":
            s = AncestralScheduler(self.schedule, self.config.prediction, clip=clip)
        else:
            s = DDIMScheduler(self.schedule, self.config.prediction, o.eta, clip=clip)
        if start is None:
            s.set_timesteps(steps)
        else:
            s.set_timesteps_from(int(start), steps)
        return s

    # --- export: one denoising step's network ---------------------------------------------------------
    def export_network(self, batch: int = 2) -> ExportedNetwork:
        return self._export_step(torch.linspace(1, self.config.timesteps - 1, batch).long(), 1.0, "prediction", {
            "network": "denoiser (one step)", "prediction": self.config.prediction, "schedule": self.config.schedule,
            "timesteps": self.config.timesteps, "alpha_bar": [round(float(a), 10) for a in self.schedule.alpha_bar]})


FAMILY = Family(
    name="ddpm",
    title="Diffusion (DDPM / DDIM)",
    description="Learns to remove noise step by step; samples by denoising pure noise with DDIM (fast) or "
                "ancestral sampling. Stable training, high quality, slow sampling; class guidance with labels.",
    config_class=DDPMConfig,
    engine_class=DDPMEngine,
    preset=preset,
)
