"""RealNVP (Dinh et al., 2017): a multi-scale stack of affine couplings with exact likelihood.

Per level: checkerboard couplings at the current resolution, a squeeze, channel-mask couplings, and
half the channels factored out to a standard normal; the last level (or the first size that cannot
be halved, e.g. 7 px after 28 -> 14 -> 7) has one more checkerboard coupling and no split. Pixels
are uniformly dequantised and logit-transformed; bits/dim counts both, so it is the standard
discrete bound. Latents are the standardised Gaussian variables, so encode/decode are exact inverses.
"""

from __future__ import annotations

from dataclasses import dataclass
import torch
from torch import nn

from ..config import param, replace_checked
from .flow_engine import FlowEngine, flow_train_preset
from ..nn.flows import Coupling, Preprocess, Scale, channel_mask, checkerboard_mask
from ..registry import Family
from .base import DataSpec


@dataclass(frozen=True)
class RealNVPConfig:
    levels: int = param(3, min=1, max=6, help="Most scales in the multi-scale architecture; a level that cannot halve the image (odd size) becomes the last.")
    couplings: int = param(3, min=1, max=8, help="Affine couplings per mask type in each level (the last level gets one more checkerboard coupling).")
    hidden: int = param(64, min=8, max=512, help="Channels inside each coupling's network.")
    blocks: int = param(2, min=0, max=8, help="Residual blocks inside each coupling's network.")
    logit_alpha: float = param(0.05, min=1e-6, max=0.2, help="Logit preprocessing keeps pixels in [alpha, 1 - alpha] before the logit, avoiding infinities at 0 and 255.")
    lr: float = param(1e-3, min=1e-6, max=1e-1, help="Adam learning rate.")
    ema_decay: float = param(0.0, min=0.0, max=0.99999, help="Validation, samples and the latent space use a moving average of the weights with this decay (steadier than the live weights with small batches); 0 uses the live weights.")
    warmup_steps: int = param(100, min=0, max=100_000, help="Steps over which the learning rate ramps up linearly from zero.")
    grad_clip: float = param(50.0, min=0.0, max=1e6, help="Largest gradient norm before clipping, unless the training settings set their own grad_clip; 0 turns it off.")
    temperature: float = param(0.8, min=0.0, max=2.0, help="Sampling temperature: the prior's standard deviation; below 1 gives cleaner, less varied samples (why 0.8: README, 'Why the recipes are what they are').")


def preset(config: RealNVPConfig, size: int) -> RealNVPConfig:
    """Recipes that train in a few CPU minutes: fewer, narrower couplings as images grow."""
    # lr 2e-3 (with batch 16, see flow_train_preset) and a weight average: README, "Why the recipes are
    # what they are" (benchmarks/flows_pixelcnn.py)
    if size <= 20:
        return replace_checked(config, levels=2, couplings=3, hidden=32, blocks=1, lr=2e-3, ema_decay=0.998)
    if size <= 32:
        return replace_checked(config, levels=3, couplings=3, hidden=32, blocks=1, lr=2e-3, ema_decay=0.998)
    return replace_checked(config, levels=4, couplings=2, hidden=32, blocks=1, ema_decay=0.998)


class RealNVPEngine(FlowEngine):
    family = "realnvp"

    def __init__(self, config: RealNVPConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device, Preprocess("logit", config.logit_alpha), learned_prior=False)

    def _build_level(self, scale: Scale, channels: int, size: int) -> tuple[list[nn.Module], list[nn.Module]]:
        c = self.config

        def coupling(mask: torch.Tensor, ch: int) -> Coupling:
            return Coupling(mask, ch, c.hidden, c.blocks, affine=True)

        if not scale.split:
            pre = [coupling(checkerboard_mask(scale.size, scale.size, i % 2), scale.channels)
                   for i in range(c.couplings + 1)]
            return pre, []
        pre = [coupling(checkerboard_mask(scale.size, scale.size, i % 2), scale.channels) for i in range(c.couplings)]
        post = [coupling(channel_mask(channels, i % 2), channels) for i in range(c.couplings)]
        return pre, post


FAMILY = Family(
    name="realnvp",
    title="RealNVP",
    description="Normalizing flow of affine couplings (checkerboard and channel masks, multi-scale): exact "
                "likelihood in bits/dim and an exactly invertible latent space; samples are softer than a GAN's.",
    config_class=RealNVPConfig,
    engine_class=RealNVPEngine,
    preset=preset,
    train_preset=flow_train_preset,
)
