"""A run folder: run.json, metrics.jsonl, checkpoints/, samples/.

run.json is written before anything else and says the run's status ("created", "running",
"finished", "stopped", "failed"), so a folder left by a crash never looks like a finished run.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..imaging import save_png
from .checkpoint import atomic_write_json, checkpoint_paths

RUN_FORMAT = "genstudio-run/2"   # written; engines/train/plan.py's RunRecord reads and writes it
RUN_FORMATS = ("genstudio-run/1", RUN_FORMAT)  # read: version 1 files lack fields version 2 always has


class RunError(RuntimeError):
    """A run folder cannot be used (not writable, not a run, another family). Meant for a person."""


MAX_RECORD_BYTES = 32 * 2**20  # run.json; real ones are kilobytes


def check_record(rec: object, source: str = "run.json") -> dict:
    """A run record as read from a file someone may have shared: its names are names, never paths,
    its recorded paths one line of text, its data description well formed (engines/names.py).
    Anything else is a RunError of one line."""
    from ..families.base import DataSpec
    from ..names import UnsafeName, check_name, check_recorded_path

    try:
        if not isinstance(rec, dict):
            raise UnsafeName(f"{source} is not a run record")
        if "family" in rec:
            check_name(rec["family"], "family", source)
        data = rec.get("data")
        if data is not None:
            if not isinstance(data, dict):
                raise UnsafeName(f"{source}: its data is not a mapping")
            sources = data.get("sources", [])
            if not isinstance(sources, list):
                raise UnsafeName(f"{source}: its data sources are not a list")
            for p in sources:
                check_recorded_path(p, "data source", source)
            classes = data.get("classes", {})
            if classes is not None and not isinstance(classes, dict):
                raise UnsafeName(f"{source}: its classes are not a mapping")
            for name in classes or {}:
                check_name(name, "class name", source)
        if rec.get("data_spec") is not None:
            DataSpec.from_json(rec["data_spec"], source)
        if rec.get("inputs") is not None:
            check_recorded_inputs(rec["inputs"], source)
    except UnsafeName as exc:
        raise RunError(str(exc)) from None
    return rec


def check_recorded_inputs(inputs: object, source: str) -> None:
    """A run record's or a model file's other inputs: names are names, each row a mapping whose
    recorded paths are one line of text and whose data description is well formed (UnsafeName)."""
    from ..families.base import DataSpec
    from ..names import UnsafeName, check_name, check_recorded_path

    if not isinstance(inputs, dict):
        raise UnsafeName(f"{source}: its inputs are not a mapping")
    for name, row in inputs.items():
        check_name(name, "input name", source)
        if not isinstance(row, dict) or not isinstance(row.get("paths", []), list):
            raise UnsafeName(f"{source}: input {name!r} is malformed")
        for p in row.get("paths", []):
            check_recorded_path(p, f"input {name!r} path", source)
        if row.get("data_spec") is not None:
            DataSpec.from_json(row["data_spec"], source)


def versions() -> dict:
    import torch
    return {"genstudio": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "platform": sys.platform}


@dataclass
class RunDir:
    path: Path
    # engines/train/tensorboard.TensorBoardLog while the loop trains (main process only): metrics and
    # sample grids written here are written there too
    tensorboard: object | None = field(default=None, repr=False, compare=False)

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"


    # --- creating and opening ---------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, record: dict) -> "RunDir":
        """Make a new run folder; refuse one that already holds a run (resume that instead)."""
        path = Path(path).expanduser()
        if (path / "run.json").exists():
            raise RunError(f"{path} already holds a run; use --resume to continue it or choose another --out")
        if path.exists() and not path.is_dir():
            raise RunError(f"{path} exists and is not a folder")
        if path.is_dir() and any(p for p in path.iterdir() if not p.name.startswith(".")):
            raise RunError(f"{path} is not empty; choose a new or empty folder for the run")
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise RunError(f"cannot write to {path}: {exc.strerror or exc}") from None
        run = cls(path)
        run.write_record({"format": RUN_FORMAT, "status": "created", "created": time.time(),
                          "versions": versions(), **record})
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunDir":
        path = Path(path).expanduser()
        run = cls(path)
        if not run.run_json.is_file():
            raise RunError(f"{path} is not a genstudio run folder (no run.json)")
        rec = run.record()
        if rec.get("format") not in RUN_FORMATS:
            raise RunError(f"{path}/run.json is not a genstudio run")
        return run

    # --- run.json -----------------------------------------------------------------------------
    def record(self) -> dict:
        try:
            if self.run_json.stat().st_size > MAX_RECORD_BYTES:
                raise RunError(f"{self.run_json} is too large to be a run record")
            rec = json.loads(self.run_json.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise RunError(f"cannot read {self.run_json}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
        return check_record(rec, str(self.run_json))

    def read(self, need_spec: bool = True):
        """run.json as a typed RunRecord (engines/train/record.py)."""
        from .record import RunRecord
        return RunRecord.from_json(self.record(), f"{self.run_json}", need_spec)

    def set_status(self, status: str, step: int) -> None:
        """"created", "running" (with this process's pid and host, so a run list can tell a live run
        from one that was killed), "finished", "stopped" or "failed"."""
        changes = {"status": status, "step": step, "updated": time.time()}
        if status == "running":
            changes.update(pid=os.getpid(), host=socket.gethostname())
        self.update_record(**changes)

    def training_pid(self) -> int | None:
        """The pid of another live process on this machine that is training this run, if any."""
        try:
            rec = self.read(need_spec=False)
        except RunError:
            return None
        pid = rec.pid
        if rec.status != "running" or pid is None or pid == os.getpid() or rec.host != socket.gethostname():
            return None
        return pid if pid_alive(pid) else None

    def write_record(self, record: dict) -> None:
        atomic_write_json(self.run_json, record)

    def update_record(self, **changes) -> dict:
        rec = self.record()
        rec.update(changes)
        self.write_record(rec)
        return rec

    # --- metrics --------------------------------------------------------------------------------
    def append_metrics(self, row: dict) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
        if self.tensorboard is not None and "event" not in row:
            self._to_tensorboard(lambda log: (
                log.scalars(row["step"], row.get("losses") or {}, prefix="train/"),
                log.scalars(row["step"], row.get("metrics") or {}),
                log.scalars(row["step"], {"time/train_seconds": row.get("train_seconds")})))

    def _to_tensorboard(self, write) -> None:
        try:
            write(self.tensorboard)
        except Exception:  # noqa: BLE001 - a side log must never stop training; it stops itself
            self.tensorboard = None

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        rows = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
        return rows

    def truncate_metrics(self, after_step: int) -> None:
        """Drop rows past `after_step` (after a rollback or when resuming from an older checkpoint)."""
        rows = [r for r in self.read_metrics() if r.get("step", 0) <= after_step]
        atomic_write_json_lines(self.metrics_path, rows)

    # --- samples ------------------------------------------------------------------------------
    def save_samples(self, step: int, grid: np.ndarray) -> Path:
        self.samples_dir.mkdir(exist_ok=True)
        path = self.samples_dir / f"step_{step:08d}.png"
        tmp = path.with_name(f".{path.name}.tmp")
        save_png(grid, tmp)
        os.replace(tmp, path)
        if self.tensorboard is not None:
            self._to_tensorboard(lambda log: log.image(step, grid))
        return path

    def truncate_samples(self, after_step: int) -> None:
        """Drop sample grids past `after_step` (they belong to a timeline abandoned by a rollback)."""
        for step, p in self.sample_paths():
            if step > after_step:
                p.unlink(missing_ok=True)

    def sample_paths(self) -> list[tuple[int, Path]]:
        if not self.samples_dir.is_dir():
            return []
        out = []
        for p in self.samples_dir.glob("step_*.png"):
            try:
                out.append((int(p.stem.split("_")[1]), p))
            except ValueError:
                continue
        return sorted(out)

    def checkpoints(self) -> list[tuple[int, Path]]:
        return checkpoint_paths(self.path)

    def rewind(self, step: int, row: dict) -> None:
        """After a rollback to `step`: later checkpoints, metrics and samples belong to an abandoned
        timeline and go; `row` (the rollback event) is logged."""
        from .checkpoint import discard_checkpoints_after
        discard_checkpoints_after(self.path, step)
        self.truncate_metrics(step)
        self.truncate_samples(step)
        self.append_metrics(row)

    def close_tensorboard(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours, or we cannot tell: do not call it dead
    return True


def atomic_write_json_lines(path: Path, rows: list[dict]) -> None:
    from .checkpoint import atomic_write_bytes
    atomic_write_bytes(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())
