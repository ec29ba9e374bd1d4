"""What the GAN milestones (ProGAN, BigGAN, StyleGAN) share with the GAN recipes: one base class.

`MilestoneGAN` reuses GANEngine's diagnostics (collapse/divergence monitor, class coverage by nearest
class mean, the per-interval D(real)/D(fake) and gradient-norm metrics), its sampling, labels and
class mixing; a variant builds its own networks and writes its own `train_step`. It adds:
  - a step counter kept in the extra state, so step-dependent schedules (ProGAN's growth, StyleGAN's
    lazy R1) resume exactly whether or not the loop passes `step`;
  - `truncation` (1 = plain sampling) for the variants whose typed sampling options have it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..nn import diversity
from ..nn.gan_blocks import ema_update
from .base import DataSpec, Engine
from .gan import MONITOR_SEED, GANEngine

def cpu_batch_preset(size: int) -> dict:
    """Training settings of ProGAN's and StyleGAN's CPU recipes: batches of 32 up to 32 px, since more,
    smaller steps won at CPU budgets (README, "Why the recipes are what they are"; benchmarks/gan_milestones.py).
    BigGAN has its own (biggan.train_preset)."""
    return {"batch_size": 32} if size <= 32 else {}


TRUNCATION_HELP = ("Truncation psi: below 1, samples keep nearer the model's typical image (less varied, cleaner); "
                   "1 is plain sampling.")


class MilestoneGAN(GANEngine):
    """Base for the GAN milestones: set up shared state, then build G, D (and G_ema) in a subclass."""

    def __init__(self, config, data: DataSpec, device="cpu", inputs: dict | None = None):  # noqa: D107 - GANEngine's is replaced
        Engine.__init__(self, config, data, device)
        self.policy: tuple[str, ...] = ()
        self.decode_label = 0
        self.truncation = 1.0
        self._probe = diversity.RandomFeatures(data.channels, MONITOR_SEED, self.device)
        self._last_real: torch.Tensor | None = None
        self._last_labels: torch.Tensor | None = None
        self._state = {"steps": 0, "d_steps": 0, "g_steps": 0, "g_loss": 0.0, "saturated_streak": 0,
                       "data_diversity": 0.0, "data_diversity_n": 0, "diversity_peak": 0.0,
                       "collapse_flagged": False, "divergence_flagged": False,
                       "class_sums": [], "class_counts": [], "interval_sums": {}, "interval_counts": {}}
        self.G_ema: nn.Module | None = None

    # --- helpers for train_step ------------------------------------------------------------------
    def _step_index(self, step: int | None) -> int:
        """The 0-based index of this training step: the loop's when given, else our own counter."""
        return int(step) if step is not None else int(self._state["steps"])

    def _record_scores(self, d_real: torch.Tensor, d_fake: torch.Tensor, gap_limit: float,
                       as_probabilities: bool = False) -> None:
        """D's scores for the monitor: the saturation streak (gap of the raw scores over `gap_limit`)
        and the mean scores, as probabilities for logistic losses (as the bce GANs show them)."""
        st = self._state
        gap = (d_real.mean() - d_fake.mean()).item()
        st["saturated_streak"] = st["saturated_streak"] + 1 if gap > gap_limit else 0
        shown = torch.sigmoid if as_probabilities else (lambda x: x)  # noqa: E731
        self._note("d_real", shown(d_real.detach()).mean().item())
        self._note("d_fake", shown(d_fake.detach()).mean().item())

    def _update_ema(self, live: nn.Module) -> None:
        st = self._state
        st["g_steps"] += 1
        if self.G_ema is not None:  # warm-up: average over the steps so far until the decay's horizon
            decay = min(self.config.ema_decay, (1 + st["g_steps"]) / (10 + st["g_steps"]))
            ema_update(self.G_ema, live, decay)

    def _make_ema(self, generator: nn.Module) -> None:
        self.G_ema = copy.deepcopy(generator).requires_grad_(False).eval() if self.config.ema_decay > 0 else None
