"""CycleGAN (Zhu et al. 2017): unpaired translation between two image sets, `data` (A) and `b` (B).

Two ResNet-block generators (A->B, B->A) with instance norm, two PatchGAN discriminators, the
least-squares adversarial loss, the cycle loss (lambda 10: A->B->A returns the input) and the identity
loss (0.5 * lambda: a B image given to A->B comes back unchanged), a pool of 50 earlier fakes for the
discriminators, Adam 2e-4 / 0.5, and a learning rate that decays linearly to 0 over the second half of
the run (the step-aware train_step). The recipe scales the networks down for small images so a 32 px
run on a CPU learns within minutes.

The two sets may differ in size (each is preprocessed to the run's size), in count and in channels
(grey <-> RGB): each generator reads its source's channels and writes its target's. The identity loss
turns a target image into the source's channels first (grey: luminance; RGB: the grey repeated).
It has no sampler and no latent space: it translates (the Translator capability).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..config import param
from ..nn.translation import (ImagePool, PatchDiscriminator, ResnetGenerator, downsamplings, patch_layers,
                              to_channels)
from ..registry import Family
from .base import Batch, DataSpec, Engine, InputSpec, image_batches, to_uint8
from .capabilities import Translator

DIRECTIONS = ("a2b", "b2a")


@dataclass(frozen=True)
class CycleGANConfig:
    width: int = param(32, min=4, max=256, help="Generator channels at full resolution (the paper: 64).")
    blocks: int = param(4, min=1, max=12, help="Residual blocks in each generator (the paper: 9 at 256 px, 6 at 128 px).")
    downsample: int = param(2, min=0, max=4, help="Stride-2 steps in each generator (the paper: 2). Fewer keep the "
                                                  "mapping local, which on small images stops it from moving whole "
                                                  "shapes around (e.g. flipping digits) to satisfy the cycle.")
    d_width: int = param(32, min=4, max=256, help="Discriminator channels of its first layer (the paper: 64).")
    d_layers: int = param(2, min=1, max=5, help="Stride-2 layers of the PatchGAN discriminator (fewer on small images: "
                                                "each output judges a smaller patch).")
    lr: float = param(2e-4, min=1e-6, max=1e-2, help="Adam learning rate of both generators and discriminators.")
    beta1: float = param(0.5, min=0.0, max=0.99, help="Adam beta1.")
    cycle_weight: float = param(10.0, min=0.0, max=100.0, help="Lambda: weight of the cycle losses (A->B->A and B->A->B).")
    identity_weight: float = param(0.5, min=0.0, max=10.0, help="Identity loss weight as a share of lambda (0 turns it off).")
    pool_size: int = param(50, min=0, max=500, help="Earlier fakes kept for the discriminators (0: only the newest).")
    decay_from: float = param(0.5, min=0.0, max=1.0, help="Share of the run after which the learning rate falls "
                                                          "linearly to 0 (0.5: the second half, as published).")


class CycleGANEngine(Engine, Translator):
    process_state = {"pool_a": "sharded", "pool_b": "sharded"}  # each process's own earlier fakes
    family = "cyclegan"
    inputs = (InputSpec("data", "images", "Image set A: folders or image files (the source of A->B)."),
              InputSpec("b", "images", "Image set B: unpaired images of the other domain (any count, size, grey or RGB)."))
    directions = DIRECTIONS
    preview_columns = 4
    preview_headers = ("A", "A→B", "B", "B→A")

    def __init__(self, config: CycleGANConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device, inputs)
        b = self.input_values.get("b")
        self.spec_b: DataSpec = b if isinstance(b, DataSpec) else DataSpec(data.size, data.channels)
        ca, cb, size = data.channels, self.spec_b.channels, data.size
        c = config
        down, layers = downsamplings(size, c.downsample), patch_layers(size, c.d_layers)
        self.G_ab = ResnetGenerator(ca, cb, c.width, c.blocks, down).to(self.device)
        self.G_ba = ResnetGenerator(cb, ca, c.width, c.blocks, down).to(self.device)
        self.D_a = PatchDiscriminator(ca, c.d_width, layers).to(self.device)
        self.D_b = PatchDiscriminator(cb, c.d_width, layers).to(self.device)
        self.pool_a = ImagePool(c.pool_size, ca, size).to(self.device)
        self.pool_b = ImagePool(c.pool_size, cb, size).to(self.device)
        betas = (c.beta1, 0.999)
        self.opt_g = torch.optim.Adam([*self.G_ab.parameters(), *self.G_ba.parameters()], lr=c.lr, betas=betas)
        self.opt_d = torch.optim.Adam([*self.D_a.parameters(), *self.D_b.parameters()], lr=c.lr, betas=betas)
        self.lr_scale = 1.0  # rollbacks lower it; the schedule below multiplies it in every step

    # --- training ----------------------------------------------------------------------------------
    def _learning_rate(self, step: int, total: int) -> float:
        start = self.config.decay_from * total
        if step < start or total <= start:
            return self.config.lr * self.lr_scale
        return self.config.lr * self.lr_scale * max(0.0, 1.0 - (step - start) / (total - start))

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        c = self.config
        lr = self._learning_rate(step, total)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        real_a, real_b = batch.float(), batch.extra["b"].float()
        for m in (self.G_ab, self.G_ba, self.D_a, self.D_b):
            m.train()

        # generators: fool both discriminators, come back round the cycle, leave the target alone
        fake_b, fake_a = self.G_ab(real_a), self.G_ba(real_b)
        rec_a, rec_b = self.G_ba(fake_b), self.G_ab(fake_a)
        self.D_a.requires_grad_(False)
        self.D_b.requires_grad_(False)
        try:
            pred_b, pred_a = self.D_b(fake_b), self.D_a(fake_a)
            adv_ab = F.mse_loss(pred_b, torch.ones_like(pred_b))
            adv_ba = F.mse_loss(pred_a, torch.ones_like(pred_a))
            cyc_a, cyc_b = F.l1_loss(rec_a, real_a), F.l1_loss(rec_b, real_b)
            loss_g = adv_ab + adv_ba + c.cycle_weight * (cyc_a + cyc_b)
            out = {"adv_a2b": adv_ab.item(), "adv_b2a": adv_ba.item(), "cycle_a": cyc_a.item(), "cycle_b": cyc_b.item()}
            if c.identity_weight > 0:
                idt_b = F.l1_loss(self.G_ab(to_channels(real_b, self.data.channels)), real_b)
                idt_a = F.l1_loss(self.G_ba(to_channels(real_a, self.spec_b.channels)), real_a)
                loss_g = loss_g + c.cycle_weight * c.identity_weight * (idt_a + idt_b)
                out.update(identity_a=idt_a.item(), identity_b=idt_b.item())
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
        finally:
            self.D_a.requires_grad_(True)
            self.D_b.requires_grad_(True)
        self.optimizer_step(self.opt_g, [*self.G_ab.parameters(), *self.G_ba.parameters()])

        # discriminators: real vs a mix of new and earlier fakes
        old_a, old_b = self.pool_a.query(fake_a.detach()), self.pool_b.query(fake_b.detach())
        loss_d_a = 0.5 * (self._lsgan(self.D_a(real_a), 1.0) + self._lsgan(self.D_a(old_a), 0.0))
        loss_d_b = 0.5 * (self._lsgan(self.D_b(real_b), 1.0) + self._lsgan(self.D_b(old_b), 0.0))
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        self.optimizer_step(self.opt_d, [*self.D_a.parameters(), *self.D_b.parameters()])
        out.update(d_a=loss_d_a.item(), d_b=loss_d_b.item(), lr=lr)
        return out

    @staticmethod
    def _lsgan(pred: torch.Tensor, target: float) -> torch.Tensor:
        return F.mse_loss(pred, torch.full_like(pred, target))

    # --- what it offers -----------------------------------------------------------------------------
    def channels_of(self, direction: str) -> tuple[int, int]:
        ca, cb = self.data.channels, self.spec_b.channels
        return (ca, cb) if direction == "a2b" else (cb, ca)

    @torch.no_grad()
    def translate(self, images: np.ndarray, direction: str | None = None, progress=None) -> np.ndarray:
        direction = direction or DIRECTIONS[0]
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
        net = self.G_ab if direction == "a2b" else self.G_ba
        source = self.channels_of(direction)[0]
        was = net.training
        net.eval()
        out, done = [], 0
        try:
            for b in image_batches(images, self.device, batch_size=32):
                out.append(to_uint8(net(to_channels(b.float(), source))))
                done += len(b.pixels)
                if progress is not None:
                    progress(done, len(images))
        finally:
            net.train(was)
        return np.concatenate(out) if out else np.zeros((0, self.data.size, self.data.size,
                                                         self.channels_of(direction)[1]), np.uint8)

    def preview(self, n: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        """Rows of four: an A image, its A->B translation, a B image, its B->A translation (all in
        RGB when either set is), from fixed training images (the loop's preview batch)."""
        fixed = self.run_context.preview_batch
        rows = max(1, n // 4)
        if fixed is None or "b" not in fixed.extra:
            return np.zeros((rows * 4, self.data.size, self.data.size, max(self.data.channels, self.spec_b.channels)),
                            np.uint8)
        a = fixed.pixels[:rows].permute(0, 2, 3, 1).cpu().numpy()
        b = fixed.extra["b"].pixels[:rows].permute(0, 2, 3, 1).cpu().numpy()
        ab, ba = self.translate(a, "a2b"), self.translate(b, "b2a")
        channels = max(self.data.channels, self.spec_b.channels)

        def rgb(x):
            return np.repeat(x, 3, axis=-1) if x.shape[-1] != channels else x
        k = min(len(a), len(b))
        quads = np.stack([rgb(a[:k]), rgb(ab[:k]), rgb(b[:k]), rgb(ba[:k])], axis=1)
        return quads.reshape(-1, *quads.shape[2:])

    # --- state --------------------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        return {"G_ab": self.G_ab, "G_ba": self.G_ba, "D_a": self.D_a, "D_b": self.D_b,
                "pool_a": self.pool_a, "pool_b": self.pool_b}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def set_learning_rate_scale(self, scale: float) -> None:
        self.lr_scale *= scale

    def extra_state(self) -> dict:
        return {"lr_scale": self.lr_scale, "b_spec": self.spec_b.to_json()}

    def load_extra_state(self, state: dict) -> None:
        self.lr_scale = float(state.get("lr_scale", 1.0))


def preset(config: CycleGANConfig, size: int) -> CycleGANConfig:
    """64 px and up: the paper's generator (two stride-2 steps, 6 residual blocks, Adam 2e-4). Smaller
    images get a small generator that stays at full resolution with one residual block, so it sees only
    a part of the image: on 16 px digits the paper's shape saw the whole image and swapped digits
    between the domains in a way the cycle could undo, the local one kept them. Its learning rate is
    5x the paper's: at the paper's rate the digit crossed the domains only after more steps than a few
    CPU-minutes of a busy machine hold, at this one in far fewer. The small networks keep 28 px steps
    cheap. The discriminator keeps one stride-2 layer below 64 px: with two, 28 px digits crossed with
    their colours inverted (a map the cycle undoes and that discriminator let pass). Figures: README
    (CycleGAN on unpaired digits), benchmarks/cyclegan.py."""
    from ..config import replace_checked
    if size >= 64:
        return replace_checked(config, width=64, d_width=64, blocks=6, d_layers=3, downsample=2,
                              lr=2e-4)
    return replace_checked(config, width=16, d_width=16, blocks=1, d_layers=1, downsample=0, lr=1e-3)


def train_preset(size: int) -> dict:
    """The paper trains with batch size 1; a few images per step use a CPU better and learn as well here."""
    return {"batch_size": 4 if size <= 32 else 1}


FAMILY = Family(
    name="cyclegan",
    title="CycleGAN (unpaired translation)",
    description="Learns to translate between two unpaired image sets A (--data) and B (--input b=FOLDER): two "
                "generators, two PatchGAN discriminators, cycle and identity losses. Use it with Translate "
                "(`genstudio translate`); it does not sample from noise.",
    config_class=CycleGANConfig,
    engine_class=CycleGANEngine,
    preset=preset,
    train_preset=train_preset,
)
