"""Latent diffusion (Rombach et al., 2022): diffusion in the latent space of an autoencoder.

A first stage (AE, VAE or VQ-VAE) turns an image into a much smaller latent; a diffusion model
(the DDPM family's U-Net, schedule, min-SNR loss, weight average and classifier-free guidance,
engines/families/ddpm.py and engines/diffusion/) learns the distribution of those latents, and the
first stage's decoder turns sampled latents back into images. The first stage is the input
`first_stage` (a trained ae, vae or vqvae run or exported model), or, when none is given, trained
here first for first_stage_steps steps (phase 1, its losses named first_stage_*), then frozen;
every training image is encoded once (cached) and the diffusion model trains in phase 2.

Latent shape: a VQ-VAE gives a D x h x w grid (diffused before quantisation; its decoder snaps the
result to the codebook), an AE or VAE a flat vector of d numbers, which the U-Net sees as a
d-channel 1 x 1 image (its convolutions then act as a residual MLP with the timestep embedding).

Latent scale: diffusion assumes data of about unit variance (the noise it adds has variance 1). An
autoencoder's latents have whatever scale training gave them; too small and the noise drowns them
from the first steps, and samples come out as noise, the problem people report. So on the first
phase-2 step the latents of that training batch are measured: each channel's mean is subtracted
and everything divided by the overall standard deviation (kept as buffers, so resumes and exports
use the same numbers); the diffusion model only ever sees these normalised latents.

Sampling is DDIM (sampling options as for ddpm: steps, eta, guidance, sampler); the Latent panel's
latent is the starting noise, and real images reach it by DDIM inversion of their latents.

`objective = flow-matching` trains the latent model as the flow-matching family does instead
(engines/families/flow_matching.py: the same U-Net learning the velocity of the straight path, Euler
or Heun ODE sampling with few steps, ODE inversion); the first stage is unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from torch import nn

from ..config import ConfigError, param, replace_checked
from ..diffusion.samplers import SAMPLERS, denoise, invert
from ..diffusion.schedule import PREDICTIONS
from ..nn.unet import parse_mults
from ..registry import Family
from ..runtime.distributed import broadcast_tensors
from . import first_stage as fs
from .base import MAIN_INPUT, Batch, DataSpec, Engine, InputSpec, ProgressFn
from .capabilities import LatentCodec, Prior, Reconstructor, Sampler
from .ddpm import DDPMConfig, DDPMEngine, DDPMSampling, UNetPriorConfig
from .flow_matching import FlowMatchingConfig, FlowMatchingEngine, FlowSampling

FIRST_STAGES = ("vae", "ae", "vqvae")
OBJECTIVES = ("diffusion", "flow-matching")
DIFFUSION_ONLY = {"objective": ("diffusion",)}



@dataclass(frozen=True)
class LDMConfig:
    # --- first stage ---
    first_stage_family: str = param("vqvae", choices=FIRST_STAGES, help="Autoencoder trained here first when no first_stage input is given: vqvae (a latent grid, diffused before quantisation), vae or ae (a flat latent vector).")
    first_stage_steps: int = param(1500, min=0, max=10_000_000, help="Steps of phase 1 (training the autoencoder) before the diffusion model trains; ignored when a first stage is given.")
    first_stage_width: int = param(32, min=4, max=512, help="Width of the self-trained autoencoder.")
    first_stage_latent: int = param(8, min=1, max=512, help="Latent size of the self-trained autoencoder: channels of the grid (vqvae) or length of the vector (ae, vae).")
    first_stage_codebook: int = param(64, min=2, max=8192, help="Codebook size of a self-trained vqvae.")
    # --- the latent model (the DDPM family's U-Net over the latents) ---
    objective: str = param("diffusion", choices=OBJECTIVES, help="How the latent model learns: diffusion (ddpm's noise schedule, DDIM sampling) or flow-matching (rectified flow: the straight path's velocity, a few Euler/Heun ODE steps, with the flow family's sampling defaults).")
    base_channels: int = param(64, min=8, max=512, help="U-Net width over the latents.")
    channel_mults: str = param("1,2", help="U-Net width multiplier per level, comma separated (a 7 x 7 grid or a 1 x 1 vector does not shrink).")
    num_res_blocks: int = param(2, min=1, max=4, help="Residual blocks per level.")
    attention_resolution: int = param(8, min=0, max=64, help="Self-attention on latent grids this size or smaller (0: none).")
    dropout: float = param(0.0, min=0.0, max=0.5, help="Dropout inside residual blocks.")
    timesteps: int = param(1000, min=10, max=4000, help="Diffusion steps T used in training.", when=DIFFUSION_ONLY)
    prediction: str = param("v", choices=PREDICTIONS, help="What the network predicts: v (steady at every noise level) or the noise eps.", when=DIFFUSION_ONLY)
    min_snr_gamma: float = param(5.0, min=0.0, max=100.0, help="Min-SNR loss weighting gamma; 0 turns it off.", when=DIFFUSION_ONLY)
    lr: float = param(1e-3, min=1e-6, max=1e-2, help="Adam learning rate of the diffusion model.")
    lr_warmup: int = param(100, min=0, max=100_000, help="Steps over which the diffusion model's learning rate ramps up.")
    grad_clip: float = param(1.0, min=0.0, max=100.0, help="Clip the diffusion model's gradient norm to this unless the run's grad_clip setting is set (0: off).")
    ema_decay: float = param(0.999, min=0.0, max=0.99999, help="Decay of the weight average used for sampling (0: the raw weights).")
    conditional: bool = param(True, help="Use class labels when the data has them (classifier-free guidance).")
    label_dropout: float = param(0.1, min=0.0, max=0.5, help="Share of training latents shown without their label, so guidance can work.")
    # --- sampling defaults ---
    sampler: str = param("ddim", choices=SAMPLERS, help="ddim (fast; deterministic at eta 0) or ancestral.", when=DIFFUSION_ONLY)
    sample_steps: int = param(50, min=1, max=4000, help="Denoising steps when sampling.", when=DIFFUSION_ONLY)
    preview_steps: int = param(20, min=1, max=4000, help="DDIM steps for the grids drawn during training.", when=DIFFUSION_ONLY)
    eta: float = param(0.0, min=0.0, max=1.0, help="DDIM noise: 0 deterministic, 1 as noisy as ancestral sampling.", when=DIFFUSION_ONLY)
    guidance: float = param(2.0, min=0.0, max=20.0, help="Classifier-free guidance scale for conditional runs (1: plain conditional).")

    def check(self) -> None:
        try:
            parse_mults(self.channel_mults)
        except ValueError as exc:
            raise ConfigError(f"channel_mults: {exc}") from None


def preset(config: LDMConfig, size: int) -> LDMConfig:
    if size <= 32:
        return config
    return replace_checked(config, first_stage_width=64, first_stage_latent=4, first_stage_codebook=256,
                           base_channels=128, first_stage_steps=5000)


def train_preset(size: int) -> dict:
    return {"batch_size": 32 if size <= 32 else 64, "sample_every": 500, "n_samples": 40}


def latent_shape(first: Engine) -> tuple[int, ...]:
    if first.family == "vqvae":
        return (first.config.code_dim, first.token_grid, first.token_grid)
    return (first.config.latent_dim,)


class LatentNorm(nn.Module):
    """Per-channel shift and one overall scale that give the training latents zero mean, unit variance."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("shift", torch.zeros(1, channels, 1, 1))
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("measured", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def measure(self, z: torch.Tensor) -> None:
        self.shift.copy_(z.mean(dim=(0, 2, 3), keepdim=True))
        self.scale.copy_((z - self.shift).std().clamp_min(1e-6))
        self.measured.fill_(True)
        broadcast_tensors([self.shift, self.scale])  # several training processes: rank 0's measurement

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.shift) / self.scale

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class LatentBatch(Batch):
    """A batch whose float() is the normalised latents, so the DDPM engine trains on them unchanged."""

    def __init__(self, latents: torch.Tensor, labels: torch.Tensor):
        super().__init__(latents, labels)
        self.latents = latents

    def float(self) -> torch.Tensor:
        return self.latents


class LDMEngine(fs.TwoStage, Engine, Sampler, LatentCodec, Prior, Reconstructor):
    family = "ldm"
    encoding = "DDIM inversion in the first stage's latent space"
    class_mixing = True
    class_settings = ("label_dropout", "guidance")
    best_metric = "loss"
    first_stage_families = FIRST_STAGES
    sampling_config = DDPMSampling
    sampling_configs_by = ("objective", {"diffusion": DDPMSampling, "flow-matching": FlowSampling})
    inputs = (MAIN_INPUT,
              InputSpec("first_stage", "run", "A trained ae, vae or vqvae run or exported model whose latent space "
                            "to diffuse in; when not given, one is trained here first.", required=False,
                            families=FIRST_STAGES))

    def __init__(self, config: LDMConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device, inputs)
        self._init_first_stage(inputs)

    def _build_second_stage(self) -> None:
        c = self.config
        self.shape = latent_shape(self.first)
        channels = self.shape[0]
        side = self.shape[1] if len(self.shape) == 3 else 1
        self.flow = c.objective == "flow-matching"
        config_class, engine_class = (FlowMatchingConfig, FlowMatchingEngine) if self.flow else (DDPMConfig, DDPMEngine)
        names = UNetPriorConfig if self.flow else DDPMConfig  # the flow keeps its own sampling defaults
        shared = {f.name: getattr(c, f.name) for f in dataclasses.fields(names) if hasattr(c, f.name)}
        prior_config = replace_checked(config_class(), **{**shared, "patch_size": 1})
        spec = DataSpec(side, channels, self.data.num_classes, self.data.class_names)
        self.diffusion = engine_class(prior_config, spec, self.device)
        self.sampling_config = type(self.diffusion.options)  # this run's options (ddpm's or the flow's)
        if self.flow:
            self.encoding = "ODE inversion in the first stage's latent space"
        self.conditional = self.diffusion.conditional
        self.norm = LatentNorm(channels).to(self.device)

    # --- latents --------------------------------------------------------------------------------------
    def _as_grid(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(z.shape[0], -1, 1, 1) if len(self.shape) == 1 else z

    def _as_first(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], -1) if len(self.shape) == 1 else x

    def _latents(self, batch: Batch) -> torch.Tensor:
        """Normalised latents of a batch (first stage frozen; each image encoded once)."""
        z = self._as_grid(self._cached(batch.pixels).float())
        if not bool(self.norm.measured):
            self.norm.measure(z)
        return self.norm.normalise(z)

    def _second_stage_step(self, batch: Batch) -> dict[str, float]:
        self.diffusion.begin_training(self.run_context)  # it steps through this run's seam (clip, averaging)
        latents = self._latents(batch)
        losses = self.diffusion.train_step(LatentBatch(latents, batch.labels), self.steps_done, 1)
        return {f"diffusion_{k}" if k == "loss" else k: v for k, v in losses.items()}

    def monitor(self, step: int):
        if self.phase == 1:
            return self.first.monitor(step)
        return {"latent_scale": float(self.norm.scale)} if bool(self.norm.measured) else {}, []

    @torch.no_grad()
    def validate(self, batches: Iterable[Batch]) -> dict[str, float]:
        if self.phase == 1:
            return {f"first_stage_{k}": v for k, v in self.first.validate(batches).items()}
        if not bool(self.norm.measured):
            return {}
        return self.diffusion.validate(LatentBatch(self.norm.normalise(self._as_grid(self._cached(b.pixels).float())),
                                                   b.labels) for b in batches)

    # --- sampling -------------------------------------------------------------------------------------
    def sampling_options(self) -> DDPMSampling:
        return self.diffusion.sampling_options()

    def sampling_limits(self) -> dict:
        return self.diffusion.sampling_limits()

    def apply_sampling_options(self, options) -> None:
        self.diffusion.apply_sampling_options(options)

    def _generate(self, x: torch.Tensor, labels, gen, progress, steps: int | None = None) -> torch.Tensor:
        """Noise -> normalised latents with the latent model's own sampler (guided)."""
        d = self.diffusion
        if self.flow:
            return d._flow(x, labels, progress, gen, steps=steps)[0]
        return denoise(d._denoiser(labels), self._scheduler(steps), x, gen, progress)[0]

    def _scheduler(self, steps: int | None = None):
        """The ddpm sampler without clipping to [-1, 1]: normalised latents are not bounded like pixels."""
        return self.diffusion.prior_sampler(steps, clip=False)

    def _noise(self, n: int, gen: torch.Generator) -> torch.Tensor:
        d = self.diffusion.data
        return torch.randn((n, d.channels, d.size, d.size), generator=gen)

    def _to_images(self, x: torch.Tensor) -> np.ndarray:
        return self.first.decode(self._as_first(self.norm.restore(x)))

    @torch.no_grad()
    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress: ProgressFn | None = None,
               steps: int | None = None) -> np.ndarray:
        gen = torch.Generator().manual_seed(int(seed))
        d = self.diffusion
        x = self._generate(self._noise(n, gen).to(self.device), d._labels(n, labels), gen, progress, steps)
        return self._to_images(x)

    def preview(self, n: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        if self.phase == 1:
            return self.first.preview(n, seed)
        preview_steps = self.diffusion.config.preview_steps
        return self.sample(n, seed, labels, steps=max(1, min(preview_steps, self.diffusion.options.steps)))

    # --- the Latent panel: starting noise, DDIM (eta 0) both ways ---------------------------------------
    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        return self._noise(n, torch.Generator().manual_seed(int(seed)))

    def _cond(self, n: int, labels) -> torch.Tensor | None:
        d = self.diffusion
        return d._labels(n, labels) if labels is not None else d._null_labels(n)

    @torch.no_grad()
    def encode(self, images: np.ndarray, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> torch.Tensor:
        d = self.diffusion
        z = self.norm.normalise(self._as_grid(self.first.encode(np.asarray(images, dtype=np.uint8)).float().to(self.device)))
        if self.flow:
            return d._flow(z, self._cond(len(z), labels), progress, backwards=True, guidance=1.0)[0].cpu()
        return invert(d._denoiser(self._cond(len(z), labels), guidance=1.0), d._ddim(), z, progress).cpu()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> np.ndarray:
        d = self.diffusion
        x = torch.as_tensor(latents, dtype=torch.float32).to(self.device)
        if self.flow:
            x, _ = d._flow(x, self._cond(len(x), labels), progress, deterministic=True, guidance=1.0)
        else:
            x, _ = denoise(d._denoiser(self._cond(len(x), labels), guidance=1.0), d._ddim(), x, None, progress)
        return self._to_images(x)

    # --- the prior role: the diffusion model over the first stage's normalised latents ----------------
    prior_space = "latent"

    @property
    def prediction(self) -> str:
        return self.diffusion.prediction  # ddpm's eps or v, or the flow's velocity

    def prior_shape(self) -> tuple[int, ...]:
        d = self.diffusion.data
        return (d.channels, d.size, d.size)

    @torch.no_grad()
    def to_space(self, images: np.ndarray) -> torch.Tensor:
        z = self.first.encode(np.ascontiguousarray(images, dtype=np.uint8)).float().to(self.device)
        return self.norm.normalise(self._as_grid(z))

    @torch.no_grad()
    def from_space(self, x: torch.Tensor, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> np.ndarray:
        return self._to_images(x)

    def prior_times(self):
        return self.diffusion.prior_times()

    def noise_level(self, t) -> tuple[float, float]:
        return self.diffusion.noise_level(t)

    def denoiser(self, labels: np.ndarray | None = None, guidance: float | None = None):
        return self.diffusion.denoiser(labels, guidance)

    def prediction_target(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        return self.diffusion.prediction_target(x0, noise, t)

    def prior_sampler(self, steps: int | None = None, start=None, deterministic: bool = False):
        if self.flow:  # the flow never clips
            return self.diffusion.prior_sampler(steps, start, deterministic)
        return self.diffusion.prior_sampler(steps, start, deterministic, clip=False)

    # --- the reconstructor role: through the first stage ---------------------------------------------------
    reconstruction = "through the first stage (latent diffusion)"

    def reconstruct(self, images: np.ndarray, labels: np.ndarray | None = None,
                    progress: ProgressFn | None = None) -> np.ndarray:
        return self.first.reconstruct(images)

    # --- state ----------------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {**{k: v for k, v in self.diffusion.modules().items()}, "latent_norm": self.norm,
                **self._first_stage_modules()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {**self.diffusion.optimizers(), **self._first_stage_optimizers()}

    def schedulers(self) -> dict[str, object]:
        return self.diffusion.schedulers()

    def extra_state(self) -> dict:
        return {**self._first_stage_state(), "diffusion": self.diffusion.extra_state()}

    def load_extra_state(self, state: dict) -> None:
        self._load_first_stage_state(state)
        self.diffusion.load_extra_state(state.get("diffusion", {}))

    def parameter_count(self) -> int:
        trained = sum(p.numel() for p in self.diffusion.net.parameters())
        return trained + sum(p.numel() for m in self.first.modules().values() for p in m.parameters())


FAMILY = Family(
    name="ldm",
    title="Latent diffusion (LDM)",
    description="Diffusion in the latent space of an autoencoder (AE, VAE or VQ-VAE; given as first_stage, or "
                "trained here first), with the latent scale measured from the data, DDIM sampling, classifier-free "
                "guidance with labels and DDIM inversion for the Latent panel.",
    config_class=LDMConfig,
    engine_class=LDMEngine,
    preset=preset,
    train_preset=train_preset,
)
