"""What the loop watches for a person: the best held-out value (kept as the best checkpoint),
overfitting (the held-out measure worsening while the training measure improves), and what to
expect from very little data."""

from __future__ import annotations

import math
from typing import Iterator

from ..config import field_infos
from ..families.base import Engine
from . import events as ev

SMALL_DATA = 500  # images: at or below this many a run starts with a note on what to expect


class Watches:
    def __init__(self, engine: Engine, overfit_patience: int):
        self.engine, self.patience = engine, overfit_patience
        self.best: float | None = None       # best validation value of engine.best_metric so far
        self.best_step: int | None = None
        # overfitting: (step, held-out value, mean training measure since the previous validation)
        self.val_history: list[list[float]] = []
        self.overfit_warned = False
        self.train_sum, self.train_n = 0.0, 0   # training measure since the last validation
        self.measure_name = "loss"

    # --- state in a checkpoint ----------------------------------------------------------------
    def state(self) -> dict:
        return {"best": self.best, "best_step": self.best_step, "val_history": self.val_history,
                "overfit_warned": self.overfit_warned, "train_since_val": [self.train_sum, self.train_n]}

    def load(self, loop: dict) -> None:
        self.best, self.best_step = loop.get("best"), loop.get("best_step")
        self.val_history = [list(row) for row in loop.get("val_history", [])]
        self.overfit_warned = bool(loop.get("overfit_warned", False))
        total, n = loop.get("train_since_val", [0.0, 0])
        self.train_sum, self.train_n = float(total), int(n)

    # --- the training measure ------------------------------------------------------------------
    def train_measure(self, losses: dict) -> str | None:
        """The training loss that mirrors the held-out measure (the family's `train_measure`, else the
        loss named like `best_metric`, else "loss", else the first one)."""
        if not self.engine.best_metric or not losses:
            return None
        for name in (self.engine.train_measure, self.engine.best_metric, "loss"):
            if name and name in losses:
                return name
        return next(iter(losses))

    def note_losses(self, losses: dict) -> None:
        measure = self.train_measure(losses)
        if measure is not None:
            self.train_sum += float(losses[measure])
            self.train_n += 1
            self.measure_name = measure

    # --- the best checkpoint -------------------------------------------------------------------
    def _held_out(self, values: dict[str, float]) -> float | None:
        name = self.engine.best_metric
        return values.get(name if name.startswith("val") else f"val/{name}") if name else None

    def is_new_best(self, values: dict[str, float], step: int) -> bool:
        value = self._held_out(values)
        if value is None or not math.isfinite(value) or (self.best is not None and value >= self.best):
            return False
        self.best, self.best_step = float(value), step
        return True

    # --- overfitting ---------------------------------------------------------------------------
    def overfitting(self, values: dict[str, float], new_best: bool, step: int,
                    n_train: int) -> ev.TrainWarning | None:
        """A warning (once per episode) when the held-out measure got worse `overfit_patience`
        validations in a row (by more than 2% in all, not noise) while the training measure went down
        over the same span."""
        name = self.engine.best_metric
        value = self._held_out(values)
        train = self.train_sum / self.train_n if self.train_n else None
        self.train_sum, self.train_n = 0.0, 0
        if value is None or train is None or not math.isfinite(value):
            return None
        patience = self.patience
        self.val_history = (self.val_history + [[step, float(value), float(train)]])[-(patience + 1):]
        if new_best:
            self.overfit_warned = False  # improving again: a later episode is worth saying
        if patience <= 0 or self.overfit_warned or len(self.val_history) < patience + 1:
            return None
        rows = self.val_history
        worse = all(b[1] > a[1] for a, b in zip(rows, rows[1:])) and rows[-1][1] - rows[0][1] > 0.02 * abs(rows[0][1])
        if not (worse and rows[-1][2] < rows[0][2]):
            return None
        self.overfit_warned = True
        (s0, v0, t0), (s1, v1, t1) = rows[0], rows[-1]
        best = (f" The best checkpoint (step {self.best_step:,}, {name} {self.best:.4g}) is kept: use it to "
                f"sample and export." if self.best_step is not None and self.best is not None else "")
        return ev.TrainWarning(
            step, f"overfitting: held-out {name} got worse {patience} validations in a row, {v0:.4g} at step "
            f"{int(s0):,} to {v1:.4g} at step {int(s1):,}, while the training {self.measure_name} fell from "
            f"{t0:.4g} to {t1:.4g}: the model is memorising its {n_train:,} training images.{best} "
            f"What helps: more images, flip=true, a smaller network, or fewer steps.", "overfitting")


def data_notes(n: int, config, engine: Engine) -> list[ev.TrainWarning | ev.Note]:
    """What to expect from `n` images when that is very little, said once when a run starts."""
    gan = any(i.name == "diffaugment" for i in field_infos(config))
    if n == 1:
        return [ev.TrainWarning(0, "training on a single image: the model can only learn to reproduce that "
                                "image (or small variations of it); add more images for a model that makes "
                                "new ones", "single-image")]
    if n > SMALL_DATA:
        return []
    helps = ["flip=true (mirrored copies, where mirrored images make sense)", "a smaller network",
             "fewer steps"]
    if gan:
        helps.insert(1, "diffaugment=color,translation (DiffAugment: D sees augmented real and fake images)")
    if engine.best_metric:
        helps.append("sampling from the best checkpoint, which is kept")
    return [ev.Note(0, f"{n:,} images is a small dataset: expect the model to memorise them, with samples "
                       f"close to training images" + (" and a held-out measure that improves, then rises"
                                                      if engine.best_metric else "")
                    + ". What helps: " + "; ".join(helps) + ".", "small-data")]


def validate(t) -> Iterator[ev.Event]:
    """Trainer `t`'s held-out measures, the best checkpoint's decision (rank 0's for all, in
    t.new_best), overfitting."""
    new_best = False
    if t.batches.val_data is not None:
        t.phase = "validation"
        values = {f"val/{k}" if not k.startswith("val") else k: float(v)
                  for k, v in t.engine.validate(t.batches.val_batches()).items()}
        if values:
            t.pending_metrics.update(values)
            new_best = t.watches.is_new_best(values, t.step)
            yield ev.Metrics(t.step, values)
            warning = t.watches.overfitting(values, new_best, t.step, len(t.batches.train_data))
            if warning is not None:
                yield warning
    t.new_best = t.group.main_says(new_best)


def monitor(t) -> Iterator[ev.Event]:
    """The family's own diagnostics (collapse, divergence); a finding may offer a rollback."""
    t.phase = "monitor"
    values, findings = t.engine.monitor(t.step)
    if values:
        t.pending_metrics.update(values)
        yield ev.Metrics(t.step, dict(values))
    for f in findings:
        if f.rollback:
            t.safety.finding_step = t.step
        yield ev.TrainWarning(t.step, f.message, f.kind, f.rollback)
