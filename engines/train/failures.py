"""How a run that cannot go on says so: one Failed event with a plain sentence (disk full, out of
memory, diverged, another process failed, or the error itself), and run.json marked failed."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

import torch

from . import events as ev
from .checkpoint import DiskFullError, disk_full_message, is_disk_full
from .group import is_oom

WHERE = {"validation": "during validation", "sampling": "while making samples"}


def failure_event(t, exc: BaseException) -> ev.Failed:
    """The Failed event for `exc`, raised while trainer `t` was in `t.phase` (one process)."""
    kind = "error"
    if is_disk_full(exc):  # a plain sentence: where, roughly how much, the last good checkpoint
        kind = "disk-full"
        where = getattr(exc, "filename", None) or "the run folder"
        message = (str(exc) if isinstance(exc, DiskFullError) else disk_full_message(
            t.run_dir.path if t.run_dir is not None else Path(where).parent, where))
    elif is_oom(exc):
        kind = "out-of-memory"
        if t.device.type == "cuda":
            torch.cuda.empty_cache()  # give the memory back so the app can carry on
        where = WHERE.get(t.phase, f"at step {t.step + 1}")
        b = t.settings.batch_size
        message = f"out of memory {where} with batch size {b}; try a smaller batch size (for example {max(1, b // 2)})"
    else:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
    t.set_status_quietly("failed")
    return ev.Failed(t.step, message, traceback.format_exc(), kind=kind)


def process_failure_event(t, exc: BaseException) -> ev.Failed:
    """One of several processes failed: the group's protocol finds who; rank 0 writes it into run.json."""
    details = traceback.format_exc()

    def note(failure: dict) -> None:  # into run.json (rank 0)
        if t.run_dir is not None:
            try:
                t.run_dir.update_record(status="failed", step=t.step, updated=time.time(), failure=failure)
            except Exception:  # noqa: BLE001 - the original failure matters more
                pass

    def record(failure) -> None:
        note({"rank": failure.rank, "step": failure.step, "message": failure.why})

    failure = t.group.failure(exc, t.step, t.batches.local_batch, provisional=record)
    record(failure)
    t.group.acknowledge(failure)
    kind = "out-of-memory" if is_oom(exc) and failure.own else "error"
    return ev.Failed(t.step, failure.message, details, kind=kind, rank=failure.rank)
