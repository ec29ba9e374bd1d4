"""Glow (Kingma & Dhariwal, 2018): actnorm, invertible 1x1 convolution (LU) and coupling, multi-scale.

Per level: squeeze, K steps of [actnorm -> 1x1 conv -> affine or additive coupling on channel halves],
then half the channels are factored out to a Gaussian whose mean and scale are predicted from the
other half (split prior); the top prior is learnt too. A level whose size cannot be halved (7 px
after 28 -> 14 -> 7) runs its steps unsqueezed and ends the stack. Actnorm initialises itself from
the first training batch (no randomness) and saves that it did, so resumes are exact. Pixels enter
through the paper's shift (x - 1/2) or RealNVP's logit; the recipes use the logit, which trained much
faster on digit-like data where most pixels are pure black.
"""

from __future__ import annotations

from dataclasses import dataclass
from torch import nn

from ..config import param, replace_checked
from .flow_engine import FlowEngine, flow_train_preset
from ..nn.flows import ActNorm, Coupling, InvConv1x1, Preprocess, Scale, channel_mask
from ..registry import Family
from .base import DataSpec


@dataclass(frozen=True)
class GlowConfig:
    levels: int = param(3, min=1, max=6, help="Most scales (squeeze + steps + split); a level that cannot halve the image (odd size) becomes the last.")
    steps: int = param(8, min=1, max=64, help="Flow steps (actnorm, 1x1 conv, coupling) per level.")
    hidden: int = param(128, min=8, max=512, help="Channels inside each coupling's network.")
    blocks: int = param(0, min=0, max=8, help="Extra residual blocks inside each coupling's network.")
    preprocess: str = param("shift", choices=("shift", "logit"), help="Input transform: shift (x - 1/2, as in Glow) or logit (as in RealNVP; spreads pixels stuck at black or white, steadier on digit-like data).")
    logit_alpha: float = param(0.05, min=1e-6, max=0.2, help="With logit preprocessing: pixels are kept in [alpha, 1 - alpha] before the logit.")
    coupling: str = param("affine", choices=("affine", "additive"), help="Affine couplings learn a scale too; additive ones are volume preserving (simpler, a little weaker).")
    lr: float = param(1e-3, min=1e-6, max=1e-1, help="Adam learning rate.")
    ema_decay: float = param(0.0, min=0.0, max=0.99999, help="Validation, samples and the latent space use a moving average of the weights with this decay (steadier than the live weights with small batches); 0 uses the live weights.")
    warmup_steps: int = param(100, min=0, max=100_000, help="Steps over which the learning rate ramps up linearly from zero.")
    grad_clip: float = param(50.0, min=0.0, max=1e6, help="Largest gradient norm before clipping, unless the training settings set their own grad_clip; 0 turns it off.")
    temperature: float = param(0.8, min=0.0, max=2.0, help="Sampling temperature: scales the prior's standard deviation; below 1 gives cleaner, less varied samples.")


def preset(config: GlowConfig, size: int) -> GlowConfig:
    """Recipes that train in a few CPU minutes: fewer, narrower steps as images grow."""
    # logit preprocessing, since the shift leaves the many pure-black pixels in a 1/256-wide sliver that
    # the flow must blow up; a weight average for the held-out bits/dim (README, "Why the recipes are
    # what they are"; benchmarks/flows_pixelcnn.py)
    if size <= 20:
        return replace_checked(config, levels=2, steps=4, hidden=32, preprocess="logit", ema_decay=0.998)
    if size <= 32:
        return replace_checked(config, levels=3, steps=6, hidden=64, preprocess="logit", ema_decay=0.998)
    return replace_checked(config, levels=4, steps=3, hidden=32, preprocess="logit", ema_decay=0.998)


class GlowEngine(FlowEngine):
    family = "glow"

    def __init__(self, config: GlowConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device, Preprocess(config.preprocess, config.logit_alpha), learned_prior=True)

    def _build_level(self, scale: Scale, channels: int, size: int) -> tuple[list[nn.Module], list[nn.Module]]:
        c = self.config
        post: list[nn.Module] = []
        for k in range(c.steps):
            post += [ActNorm(channels), InvConv1x1(channels),
                     Coupling(channel_mask(channels, k % 2), channels, c.hidden, c.blocks,
                              affine=c.coupling == "affine")]
        return [], post


FAMILY = Family(
    name="glow",
    title="Glow",
    description="Normalizing flow of actnorm, invertible 1x1 convolutions and couplings with learnt split "
                "priors: exact likelihood in bits/dim, an exactly invertible latent space, temperature-controlled samples.",
    config_class=GlowConfig,
    engine_class=GlowEngine,
    preset=preset,
    train_preset=flow_train_preset,
)
