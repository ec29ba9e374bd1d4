"""Progressive GAN (Karras et al., 2018): grow G and D from 4x4 to the run's size while training.

Training starts at the smallest map (4x4 for 16/32/64 px; 7x7 for 28 px). Every `phase_steps`
steps the next phase begins: a fade, in which the next resolution's layers are blended in as alpha
goes 0 -> 1 (in G, the new layers' image over the old image enlarged; in D, the new input block over
the old input layer fed a halved image; the real images are blended the same way), then a stable
phase at that resolution. The final resolution trains until the run ends. `phase_steps` 0 plans the
growth over the first half of the run's planned length (the loop's `total`: the step cap, or for a run
limited by time the step its time will run out at, re-estimated as it trains): 2k equal phases for k
doublings (the smallest map, then a fade and a stable phase per doubling up to the last fade), so the
final resolution trains, stable, for the second half (a short CPU run spent too little of itself at
full size when it had only two of 2k+2 shares). When the planned length changes by more than a tenth,
the phases not yet done are planned again from where growth stands (done phases stay done; growth
never goes back), so a run limited by time reaches its full size by mid-run, and continuing a run for
more steps stretches what growth is left.

The rest is the paper's recipe: WGAN-GP loss with a small drift term keeping D's scores near 0,
equalised learning rate (weights scaled at run time), pixel norm in G, a minibatch standard
deviation feature in D, Adam (0, 0.99) at a high learning rate, and a moving average of G.

Sample grids and samples are always at the run's size: while the run is still small, images are
enlarged (nearest neighbour), so the Timeline shows each resolution at one display size. The
monitor reports `resolution` and `fade_alpha` with the shared GAN diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch.nn import functional as F

from ..config import param
from ..nn.progan_nets import ProDiscriminator, ProGenerator, ladder
from ..registry import Family
from .base import Batch, DataSpec
from .gan import SATURATION_GAP
from .gan_common import MilestoneGAN, cpu_batch_preset

DEFAULT_RUN_STEPS = 2000   # when the loop does not say how long the run is (older loops), plan for this
REPLAN = 0.1               # plan the phases again when the run's planned length moves by more than this share


@dataclass(frozen=True)
class ProGANConfig:
    """Karras et al. (2018), scaled down: WGAN-GP, equalised LR, pixel norm, minibatch stddev, growing."""
    loss: ClassVar[str] = "wgan-gp"   # the shared monitor reads it (saturation threshold)

    latent_dim: int = param(128, min=2, max=1024, help="Size of the noise vector z.")
    width: int = param(16, min=4, max=512, help="Channels at the full resolution; they double towards 4x4, up to max_width (CPU recipe; 32 at 64 px).")
    max_width: int = param(64, min=8, max=1024, help="Most channels in any layer (the smallest maps; 256 at 64 px).")
    phase_steps: int = param(0, min=0, max=10_000_000, help="Steps per phase (each fade-in and each stable stretch at a resolution); 0 plans growth over the first half of the run (2k equal phases for k doublings) and trains the final resolution, stable, for the second half.")
    gp_weight: float = param(10.0, min=0.0, max=1000.0, help="Weight of the WGAN-GP gradient penalty.")
    drift: float = param(0.001, min=0.0, max=1.0, help="Weight of D(real)^2 in D's loss: keeps the critic's scores from drifting away from 0.")
    lr: float = param(1e-3, min=1e-6, max=1e-1, help="Learning rate of both nets (Adam); high, as equalised LR allows.")
    beta1: float = param(0.0, min=0.0, max=0.999, help="Adam beta1.")
    beta2: float = param(0.99, min=0.0, max=0.9999, help="Adam beta2.")
    ema_decay: float = param(0.999, min=0.0, max=0.99999, help="Samples come from a moving average of G with this decay; 0 samples the live G.")
    collapse_ratio: float = param(0.5, min=0.0, max=1.0, help="Warn of mode collapse when sample diversity falls below this share of the data's.")
    divergence_steps: int = param(200, min=10, max=1_000_000, help="Warn of divergence when D beats G outright for this many steps in a row.")

    def check(self) -> None:
        pass


def preset_for_size(config: ProGANConfig, size: int) -> ProGANConfig:
    """CPU-sized nets up to 32 px; a wider net at 64 px and above (meant for a GPU)."""
    import dataclasses

    if size >= 64 and config.width == 16 and config.max_width == 64:
        return dataclasses.replace(config, width=32, max_width=256, latent_dim=256)
    return config


def schedule(step: int, phase: int, doublings: int) -> tuple[int, float]:
    """(stage, alpha) at 0-based step `step`: stage 0 is the smallest map; alpha < 1 during a fade."""
    p = step // phase
    if p == 0 or doublings == 0:
        return 0, 1.0
    stage = min((p - 1) // 2 + 1, doublings)
    if stage == doublings and p > 2 * doublings:
        return stage, 1.0
    fading = (p - 1) % 2 == 0
    return stage, (step - p * phase) / phase if fading else 1.0


def schedule_at(position: float, doublings: int) -> tuple[int, float]:
    """(stage, alpha) at `position` phases into growth (schedule() with the phase as the unit)."""
    p = int(position)
    if p == 0 or doublings == 0:
        return 0, 1.0
    stage = min((p - 1) // 2 + 1, doublings)
    if stage == doublings and p > 2 * doublings:
        return stage, 1.0
    return stage, position - p if (p - 1) % 2 == 0 else 1.0


class ProGANEngine(MilestoneGAN):
    family = "progan"
    class_mixing = False

    def __init__(self, config: ProGANConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.conditional = False
        self.sizes = ladder(data.size)
        self.doublings = len(self.sizes) - 1
        self.G = ProGenerator(c.latent_dim, data.size, data.channels, c.width, c.max_width).to(self.device)
        self.D = ProDiscriminator(data.size, data.channels, c.width, c.max_width).to(self.device)
        self._make_ema(self.G)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self._state["phase_steps"] = int(c.phase_steps)  # 0 until the first step knows the run's length
        self._state["phase_anchor"] = [0, 0.0]  # (step, phases done) where the phases were last planned

    # --- growth ---------------------------------------------------------------------------------
    def phase_length(self, total: int | None = None, step: int | None = None) -> int:
        """Steps per phase: the config's, else planned from the run's planned length `total` (and
        planned again from `step` on when that length moved by more than REPLAN)."""
        st = self._state
        planned = max(1, (int(total) if total else DEFAULT_RUN_STEPS) // max(1, 4 * self.doublings))
        if not st["phase_steps"]:
            st["phase_steps"] = planned
        elif (not self.config.phase_steps and total and step is not None
              and abs(planned - st["phase_steps"]) > REPLAN * st["phase_steps"]):
            st["phase_anchor"] = [int(step), self._position(step)]  # growth so far stays
            st["phase_steps"] = planned
        return st["phase_steps"]

    def _position(self, step: int) -> float:
        """Phases of growth done by `step`."""
        anchor_step, anchor_position = self._state["phase_anchor"]
        return anchor_position + (step - anchor_step) / self._state["phase_steps"]

    def growth(self, step: int | None = None) -> tuple[int, float]:
        """(stage, alpha) for step `step` (default: the next step to train)."""
        st = self._state
        step = st["steps"] if step is None else step
        if not st["phase_steps"]:  # not trained yet, and the run's length not known yet
            return 0, 1.0
        if st["phase_anchor"] == [0, 0.0]:  # one plan all along: whole steps, exactly
            return schedule(step, st["phase_steps"], self.doublings)
        return schedule_at(self._position(step), self.doublings)

    def _set_stage(self, stage: int, alpha: float) -> None:
        for net in (self.G, self.D, self.G_ema):
            if net is not None:
                net.set_stage(stage, alpha)

    def _real_at(self, real: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        """The real batch as D sees it at this stage: shrunk (area), blended with the previous
        resolution during a fade, as the generator's output is."""
        factor = 2 ** (self.doublings - stage)
        x = F.avg_pool2d(real, factor) if factor > 1 else real
        if stage > 0 and alpha < 1.0:
            coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = torch.lerp(coarse, x, alpha)
        return x

    def _to_full(self, x: torch.Tensor) -> torch.Tensor:
        factor = self.data.size // x.shape[-1]
        return F.interpolate(x, scale_factor=factor, mode="nearest") if factor > 1 else x

    # --- training -------------------------------------------------------------------------------
    def train_step(self, batch: Batch, step: int | None = None, total: int | None = None) -> dict[str, float]:
        c, st = self.config, self._state
        index = self._step_index(step)
        self.phase_length(total, index)
        stage, alpha = self.growth(index)
        self._set_stage(stage, alpha)
        self.G.train()
        self.D.train()
        real = self._real_at(batch.float(), stage, alpha)
        self._last_real = ((self._to_full(real) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        self._last_labels = batch.labels
        z = torch.randn(real.shape[0], c.latent_dim, device=self.device)
        fake = self.G(z)

        d_real, d_fake = self.D(real), self.D(fake.detach())
        loss_d = d_fake.mean() - d_real.mean()
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        mixed = torch.lerp(real, fake.detach(), eps).requires_grad_(True)
        grad, = torch.autograd.grad(self.D(mixed).sum(), mixed, create_graph=True)
        gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        drift = d_real.pow(2).mean()
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d + c.gp_weight * gp + c.drift * drift).backward()
        self._note("d_grad_norm", self.optimizer_step(self.opt_d, self.D))
        st["d_steps"] += 1
        self._record_scores(d_real, d_fake, SATURATION_GAP["wgan-gp"])

        self.D.requires_grad_(False)
        try:
            loss_g = -self.D(fake).mean()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
        finally:
            self.D.requires_grad_(True)
        self._note("g_grad_norm", self.optimizer_step(self.opt_g, self.G))
        self._update_ema(self.G)
        st["g_loss"] = loss_g.item()
        st["steps"] = index + 1
        return {"d_loss": loss_d.item(), "g_loss": st["g_loss"], "gradient_penalty": gp.item()}

    @torch.no_grad()
    def monitor(self, step: int):
        metrics, findings = super().monitor(step)
        stage, alpha = self.growth()
        metrics["resolution"] = float(self.sizes[stage])
        metrics["fade_alpha"] = float(alpha)
        return metrics, findings

    # --- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def _sampling_generator_output(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        self._set_stage(*self.growth())
        return self._to_full(super()._sampling_generator_output(z, None))

    def export_forward(self, net, z: torch.Tensor, labels=None) -> torch.Tensor:
        net.set_stage(*self.growth())
        return self._to_full(net(z))

    def export_about(self) -> dict:
        stage, alpha = self.growth()
        return {"resolution": self.sizes[stage], "fade_alpha": alpha}

    def render(self, latents: torch.Tensor, labels=None) -> torch.Tensor:
        self._set_stage(*self.growth())
        g = self._sampling_generator()
        g.eval()
        return self._to_full(g(latents.to(self.device, torch.float32)))


FAMILY = Family(
    name="progan", title="Progressive GAN",
    description="Grows G and D from 4x4 to the image size with fade-in phases (Karras et al., 2018): "
                "WGAN-GP, equalised learning rate, pixel norm, minibatch stddev. Sample grids are "
                "enlarged to one size while it grows.",
    config_class=ProGANConfig, engine_class=ProGANEngine, preset=preset_for_size, train_preset=cpu_batch_preset)
