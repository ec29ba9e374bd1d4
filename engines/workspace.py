"""Where runs live and how to find them again.

The workspace is `platformdirs.user_data_dir("genstudio")` unless GENSTUDIO_WORKSPACE names
another folder (the studio's studio/workspace.py reads the same variable the same way); its runs
live in `<workspace>/runs/<time>-<family>`. Listing also accepts a folder that holds run folders
directly. It never fails on a broken or half-written run folder: that is skipped with a reason.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .imaging import split_grid
from .train.record import RunRecord, as_number
from .train.run import RUN_FORMATS, RunError, pid_alive

ENV_VAR = "GENSTUDIO_WORKSPACE"
_TAIL_BYTES = 64 * 1024  # enough for the last logged row of any run; long logs are not read whole


def default_workspace() -> Path:
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("genstudio", appauthor=False))


def runs_folder(workspace: str | os.PathLike | None = None) -> Path:
    """Where the workspace's runs are: <workspace>/runs, or the folder itself when it holds runs
    directly (someone pointed --workspace at a runs folder)."""
    root = Path(workspace).expanduser() if workspace is not None else default_workspace()
    if not (root / "runs").is_dir() and any(root.glob("*/run.json")):
        return root
    return root / "runs"


def _run_names(root: Path, family: str) -> Iterator[Path]:
    """Run folder names: the time and the family, then -2, -3, ... for runs started in the same second."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", family).strip("-") or "run"
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    for n in range(1000):
        yield root / (stem if n == 0 else f"{stem}-{n + 1}")


def run_dir_path(workspace: str | os.PathLike | None, family: str) -> Path:
    """The name a new run folder would get now (not created: the training reports if it cannot be)."""
    root = runs_folder(workspace)
    return next(p for p in _run_names(root, family) if not p.exists())


def new_run_dir(workspace: str | os.PathLike | None, family: str) -> Path:
    """Create and return a fresh, empty run folder named after the time and the family."""
    root = runs_folder(workspace)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the workspace {root}: {exc.strerror or exc}") from None
    for path in _run_names(root, family):
        try:
            path.mkdir()  # exclusive: two runs started in the same second get different folders
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunError(f"cannot create a run folder in {root}: {exc.strerror or exc}") from None
    raise RunError(f"cannot find a free run folder name in {root}")


@dataclass(frozen=True)
class RunSummary:
    """One line of a run list (the studio's Runs panel, `genstudio runs`)."""
    path: Path
    name: str
    family: str
    status: str                     # created | running | finished | stopped | failed | interrupted
    step: int
    total_steps: int | None
    dataset: str                    # e.g. "digits — 1,797 images, 10 classes, 16px grey"
    last_losses: dict[str, float] = field(default_factory=dict)
    thumbnail: Path | None = None   # the newest sample grid, if any
    created: float | None = None
    updated: float | None = None
    device: str | None = None
    checkpoints: int = 0

    def to_json(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        d["thumbnail"] = str(self.thumbnail) if self.thumbnail else None
        return d


@dataclass(frozen=True)
class SkippedRun:
    path: Path
    reason: str


def describe_data(data: dict) -> str:
    """A person's description of run.json's "data" record."""
    sources = [str(s) for s in data.get("sources", []) if s]
    names = [Path(s.rstrip("/\\")).name or s for s in sources]
    where = names[0] if names else "unknown data"
    if len(names) > 1:
        where += f" +{len(names) - 1} more"
    parts = []
    if isinstance(data.get("images"), int):
        parts.append(f"{data['images']:,} images")
    classes = data.get("classes")
    if isinstance(classes, dict) and classes:
        parts.append(f"{len(classes)} classes")
    if data.get("size"):
        kind = {1: " grey", 3: " RGB"}.get(data.get("channels"), "")
        parts.append(f"{data['size']}px{kind}")
    return f"{where} — {', '.join(parts)}" if parts else where


_CHECKPOINT_NAME = re.compile(r"^step_(\d+)\.json$")


def _status(record: RunRecord) -> str:
    status, pid = record.status, record.pid
    if status == "running" and pid is not None and record.host == socket.gethostname() and not pid_alive(pid):
        return "interrupted"  # the process that trained it is gone (crash, kill, power cut)
    return status


def read_record(path: Path) -> RunRecord:
    """A run folder's run.json for a run list: ValueError with the reason when it is not a run."""
    run_json = path / "run.json"
    if not run_json.is_file():
        raise ValueError("no run.json")
    try:
        raw = json.loads(run_json.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"run.json is unreadable ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or raw.get("format") not in RUN_FORMATS:
        raise ValueError("run.json is not a genstudio run")
    try:
        return RunRecord.from_json(raw, "run.json", need_spec=False)
    except RunError:
        raise ValueError("run.json names no family") from None


def _last_losses(metrics: Path) -> dict[str, float]:
    try:
        with open(metrics, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            tail = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return {}
    for line in reversed(tail):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash, or the first (partial) line of the tail
        if isinstance(row, dict) and isinstance(row.get("losses"), dict) and row["losses"]:
            return {str(k): float(v) for k, v in row["losses"].items() if isinstance(v, (int, float))}
    return {}


def _thumbnail(run: Path) -> Path | None:
    best = None
    for p in (run / "samples").glob("step_*.png") if (run / "samples").is_dir() else ():
        try:
            step = int(p.stem.split("_")[1])
        except (IndexError, ValueError):
            continue
        if best is None or step > best[0]:
            best = (step, p)
    return best[1] if best else None


def summarize_run(path: str | os.PathLike) -> RunSummary:
    """Summary of one run folder; ValueError with a reason when it is not a usable run."""
    path = Path(path)
    record = read_record(path)
    ckpt_dir = path / "checkpoints"
    n_ckpt = len(list(ckpt_dir.glob("step_*.json"))) if ckpt_dir.is_dir() else 0

    # run.json's step is written at status changes; a run killed mid-way has moved on since, and its
    # newest checkpoint (what a resume continues from) says how far.
    newest = max((int(m.group(1)) for p in (ckpt_dir.glob("step_*.json") if ckpt_dir.is_dir() else ())
                  if (m := _CHECKPOINT_NAME.match(p.name))), default=0)
    return RunSummary(
        path=path, name=path.name, family=record.family, status=_status(record),
        step=max(record.step, newest), total_steps=as_number(record.setting("steps"), int),
        dataset=describe_data(record.data), last_losses=_last_losses(path / "metrics.jsonl"),
        thumbnail=_thumbnail(path), created=record.created, updated=record.updated, device=record.device,
        checkpoints=n_ckpt)


def scan_runs(workspace: str | os.PathLike | None = None) -> tuple[list[RunSummary], list[SkippedRun]]:
    """(runs newest first, folders skipped with the reason). A missing workspace is simply empty."""
    root = runs_folder(workspace)
    runs, skipped = [], []
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    except OSError as exc:
        return [], [SkippedRun(root, f"cannot read the workspace: {exc.strerror or exc}")]
    for child in children:
        try:
            runs.append(summarize_run(child))
        except ValueError as exc:
            skipped.append(SkippedRun(child, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one odd folder must never hide the others
            skipped.append(SkippedRun(child, f"{type(exc).__name__}: {exc}"))
    runs.sort(key=lambda r: (r.created or 0.0, r.name), reverse=True)
    return runs, skipped


def list_runs(workspace: str | os.PathLike | None = None) -> list[RunSummary]:
    """The runs in the workspace, newest first; broken folders are left out (see scan_runs)."""
    return scan_runs(workspace)[0]


@dataclass(frozen=True)
class RunHistory:
    """What a reopened run shows: its settings, its logged curves and its latest samples."""
    path: Path
    family: str
    config: dict
    settings: dict
    data: dict                                  # run.json "data": sources, size, channels, fit, ...
    data_spec: dict
    status: str
    step: int
    losses: list[tuple[int, dict[str, float]]]  # (step, losses) for every logged row
    metrics: list[tuple[int, dict[str, float]]]  # (step, validation/diagnostic measures)
    rollbacks: list[dict]                       # the {"event": "rollback"} rows
    samples_step: int | None = None
    samples_grid: np.ndarray | None = None      # uint8 (H, W, C) of the newest sample grid
    samples: np.ndarray | None = None           # uint8 (N, tile, tile, C) cut from that grid
    record: RunRecord | None = None             # run.json typed: family_config(), train_settings(), data_plan()

    def __fspath__(self) -> str:
        """A history stands for its run folder wherever a path is expected (Path(history))."""
        return str(self.path)


def metric_rows(run: Path) -> Iterator[tuple[int, dict]]:
    """(step, row) for every readable line of the run's metrics.jsonl; lines torn by a crash are skipped."""
    try:
        lines = (Path(run) / "metrics.jsonl").read_text(errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        try:
            row = json.loads(line)
            step = int(row["step"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        yield step, row


def read_history(path: str | os.PathLike) -> RunHistory:
    """Everything needed to show a past run again. ValueError (with a reason) for a broken folder;
    torn metrics lines and unreadable sample images are skipped."""
    from .data.decode import load_image

    summary = summarize_run(path)
    record = read_record(summary.path)
    losses, metrics, rollbacks = [], [], []
    for step, row in metric_rows(summary.path):
        if row.get("event") == "rollback":
            rollbacks.append(row)
            continue
        if isinstance(row.get("losses"), dict) and row["losses"]:
            losses.append((step, {str(k): float(v) for k, v in row["losses"].items()}))
        if isinstance(row.get("metrics"), dict) and row["metrics"]:
            metrics.append((step, {str(k): float(v) for k, v in row["metrics"].items()}))
    spec, settings = record.data_spec, record.settings
    grid = tiles = step = None
    if summary.thumbnail is not None:
        try:
            # a shared run's files are input: the one safe opener, PNG only (Refused is a ValueError)
            im = load_image(summary.thumbnail, "sample grid", formats=("PNG",))
            grid = np.asarray(im.convert("L" if spec.get("channels") == 1 else "RGB"))
            grid = grid[..., None] if grid.ndim == 2 else grid
            size = int(spec.get("size", 0))
            if size > 0:
                tiles = split_grid(grid, as_number(settings.get("n_samples"), int), size)
            step = int(summary.thumbnail.stem.split("_")[1])
        except (OSError, ValueError):
            grid = tiles = step = None
    return RunHistory(
        path=summary.path, family=summary.family,
        config=record.config, settings=settings, data=record.data,
        data_spec=spec, status=summary.status, step=summary.step, losses=losses, metrics=metrics,
        rollbacks=rollbacks, samples_step=step, samples_grid=grid, samples=tiles, record=record)
