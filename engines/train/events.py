"""Plain events the training loop yields. Python scalars and numpy arrays only: safe across threads."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Started:
    run_dir: str | None
    family: str
    start_step: int
    total_steps: int
    device: str
    parameters: int
    time_limit_s: float = 0.0     # training-time budget over all sessions; 0: none
    train_seconds: float = 0.0    # training time the run already had (earlier sessions)
    world_size: int = 1           # training processes (torch.distributed); 1: this process alone
    per_process_batch: int = 0    # images each process takes per step (0: not said)
    global_batch: int = 0         # images per step over all processes (TrainSettings.batch_size)
    threads: int = 0              # CPU threads this process trains with (0: not said)


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    losses: dict[str, float]
    images_per_sec: float
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class Phase:
    """The loop starts work that is not a training step and may take a while (drawing the sample
    grid); the next event says it is done. Lets a person see why the step counter stands still."""
    step: int
    phase: str                    # "sampling"
    message: str                  # for a person, e.g. "drawing 64 sample images"
    expected_s: float | None = None  # what the same work took last time; None: not known yet


@dataclass(frozen=True)
class Metrics:
    """Measures that are not losses (validation bits/dim, diagnostics), logged at some steps."""
    step: int
    values: dict[str, float]


@dataclass(frozen=True)
class Samples:
    step: int
    images: np.ndarray            # uint8 (N, H, W, C), from the run's fixed seed
    grid: np.ndarray              # uint8 (H', W', C): the same images tiled
    path: str | None = None       # PNG written into the run folder, if any
    captions: tuple[str, ...] | None = None  # conditional runs: the class name of each image


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: str


@dataclass(frozen=True)
class Paused:
    step: int


@dataclass(frozen=True)
class Resumed:
    step: int


@dataclass(frozen=True)
class TrainWarning:
    step: int
    message: str
    kind: str = "warning"         # e.g. "divergence", "mode-collapse", "rollback" (the loop rolled back), "precision"
    rollback: bool = False        # the studio offers "roll back to the last checkpoint before this"


@dataclass(frozen=True)
class Note:
    """Something worth knowing that is not a problem (what to expect from a small dataset)."""
    step: int
    message: str
    kind: str = "note"            # e.g. "small-data"


@dataclass(frozen=True)
class Finished:
    step: int
    reason: str                   # "completed" | "stopped" | "time budget" (settings.time_limit reached)


@dataclass(frozen=True)
class Failed:
    step: int
    message: str                  # one line for a person
    details: str = ""             # traceback, behind a "details" button
    kind: str = "error"           # "error" | "out-of-memory" | "diverged" (the UI may offer a remedy)
    rank: int | None = None       # several processes: the one that failed first (None: one process)


Event = Started | Progress | Phase | Metrics | Samples | CheckpointSaved | Paused | Resumed | TrainWarning | Note | Finished | Failed


# --- one event per JSON line (a multi-process run streams them to the studio) -------------------

_KINDS = {cls.__name__: cls for cls in (Started, Progress, Phase, Metrics, Samples, CheckpointSaved, Paused,
                                         Resumed, TrainWarning, Note, Finished, Failed)}


def to_json(event: Event) -> dict:
    """A JSON-able dict: {"event": kind, ...fields}; sample images travel as their PNG's path."""
    out = {"event": type(event).__name__}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, np.ndarray):
            continue
        out[f.name] = value
    if isinstance(event, Samples):
        out.update(n=int(event.images.shape[0]), tile=int(event.images.shape[1]),
                   channels=int(event.images.shape[3]))
    return out


def from_json(d: dict) -> Event:
    """The event back; Samples read their grid from the PNG (the images are cut out of it)."""
    cls = _KINDS[d["event"]]
    values = {f.name: d[f.name] for f in fields(cls) if f.name in d}
    if cls is Samples:
        from ..imaging import load_png, split_grid
        grid = load_png(d["path"], d.get("channels"))
        values.update(grid=grid, images=split_grid(grid, int(d["n"]), int(d["tile"])))
    return cls(**values)
