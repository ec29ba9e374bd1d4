"""Safety: a non-finite loss, gradient or weight is never trained on or saved.

The policy (settings.nan_policy): roll back to the last good state (the newest checkpoint, or an
in-memory snapshot while there is none) with the learning rate scaled by `lr_backoff`, at most
`max_rollbacks` times, then stop as diverged; or fail at once. A person may also ask for a rollback
(to before a finding that offered one, or to a step). The loop (engines/train/loop.py) applies the
state; this module decides, keeps the counters and says what happened.
"""

from __future__ import annotations

import copy

import torch

from ..families.base import Engine
from . import events as ev
from .checkpoint import CheckpointError, checkpoint_paths, load_checkpoint


class Diverged(RuntimeError):
    """Training kept producing non-finite values; reported as Failed(kind="diverged")."""


def cpu_copy(obj):
    """A deep copy with every tensor in host memory (an in-memory snapshot must not double GPU use)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


def weights_finite(engine: Engine) -> bool:
    """inf/NaN anywhere in the weights or buffers. A float64 sum per tensor is a few times cheaper
    than an elementwise check and cannot overflow for finite values, so it is exact."""
    with torch.no_grad():
        sums = [t.sum(dtype=torch.float64) for m in engine.modules().values()
                for t in (*m.parameters(), *m.buffers()) if t.is_floating_point()]
    return not sums or bool(torch.isfinite(torch.stack(sums)).all())


class Safety:
    def __init__(self, nan_policy: str, lr_backoff: float, max_rollbacks: int):
        self.nan_policy, self.lr_backoff, self.max_rollbacks = nan_policy, lr_backoff, max_rollbacks
        self.lr_scale = 1.0                 # product of every rollback's lr_backoff so far
        self.rollbacks = 0                  # automatic rollbacks (non-finite values) in this run
        self.finding_step: int | None = None  # latest finding that offered a rollback
        self.snapshot: tuple[dict, dict] | None = None  # last good state while no checkpoint exists

    # --- state in a checkpoint ----------------------------------------------------------------
    def state(self) -> dict:
        return {"lr_scale": self.lr_scale, "rollbacks": self.rollbacks}

    def load(self, loop: dict) -> None:
        self.lr_scale = float(loop.get("lr_scale", 1.0))
        self.rollbacks = int(loop.get("rollbacks", 0))

    # --- the policy ----------------------------------------------------------------------------
    def check_diverged(self, reason: str) -> None:
        """Raise Diverged when the policy says stop; return when a rollback may follow."""
        if self.nan_policy == "fail":
            raise Diverged(f"{reason}; stopped (nan_policy is 'fail'). Try a lower learning rate or grad_clip")
        if self.rollbacks >= self.max_rollbacks:
            raise Diverged(f"{reason}, again after {self.rollbacks} rollbacks with a lower learning rate "
                           f"({self.lr_scale:g}x); stopped. Try a lower learning rate, grad_clip or a "
                           f"smaller model")

    def rolled_back(self, automatic: bool, lr_scale_before: float, rollbacks_before: int) -> tuple[float, str]:
        """Count a rollback, made after the state (and its counters) was restored: (the factor to apply
        to the restored optimiser's learning rate, the sentence's tail). `*_before`: the counters as
        they were before the restore; the lowered rate builds on them, not on the restored ones."""
        scale = lr_scale_before * self.lr_backoff
        relative = scale / self.lr_scale
        self.lr_scale, self.rollbacks = scale, rollbacks_before + (1 if automatic else 0)
        tail = f"lowered the learning rate to {scale:g}x of the configured one"
        if automatic:
            tail += f" (rollback {self.rollbacks} of at most {self.max_rollbacks})"
        return relative, tail

    def rollback_target(self, before_step: int | None) -> int | None:
        """A person's rollback without a step: before the latest finding that offered one."""
        return self.finding_step if before_step is None else before_step


def newest_checkpoint_before(run_path, before_step: int | None):
    """The newest checkpoint at or before `before_step` (None: the newest), loaded, or None."""
    paths = [p for step, p in checkpoint_paths(run_path) if before_step is None or step <= before_step]
    return list(load_checkpoint(paths[-1])) if paths else None


def rollback(t, reason: str, before_step: int | None = None, automatic: bool = True) -> ev.TrainWarning:
    """Trainer `t` returns to the last good state (at or before `before_step`), lowers the LR and
    says so: the newest such checkpoint (rank 0 reads it, every process gets it), else the snapshot."""
    from_step = t.step
    found = t.group.from_main(lambda: newest_checkpoint_before(t.run_dir.path, before_step)
                              if t.run_dir is not None else None)
    state = tuple(found) if found is not None else t.safety.snapshot
    if state is None:
        raise CheckpointError("there is no earlier checkpoint to roll back to")
    before = (t.safety.lr_scale, t.safety.rollbacks)
    t.apply_state(*(cpu_copy(state) if state is t.safety.snapshot else state))
    factor, tail = t.safety.rolled_back(automatic, *before)
    t.engine.set_learning_rate_scale(factor)  # relative to the restored optimiser
    message = f"{reason}; went back to step {t.step} and {tail}"
    if t.run_dir is not None:
        t.run_dir.rewind(t.step, {"step": t.step, "event": "rollback", "from_step": from_step,
                                  "lr_scale": t.safety.lr_scale, "automatic": automatic, "message": message,
                                  "losses": {}})
    return ev.TrainWarning(t.step, message, "rollback", False)


def diverged(t, reason: str) -> ev.TrainWarning:
    """A non-finite value: roll trainer `t` back, or stop (Diverged) as the policy says."""
    t.safety.check_diverged(reason)
    return rollback(t, reason)
