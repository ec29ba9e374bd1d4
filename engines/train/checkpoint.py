"""Checkpoints: every tensor in one .safetensors file, everything else in a JSON file beside it.

Nothing here ever unpickles: safetensors holds raw tensors only and JSON holds plain values, so
opening a checkpoint from elsewhere cannot run code. Both files are written atomically (temp file,
fsync, rename), tensors first; the JSON is the commit marker, so a process killed at any instant
leaves either the new checkpoint complete or the previous one untouched.

A run keeps its last K step checkpoints (step_NNNNNNNN.json + .safetensors) and, for families with
a validation measure, a "best" copy (best.json + best_step_NNNNNNNN.safetensors) that pruning and
rollbacks never touch.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .engine_state import (CheckpointError, _join_tensors, _split_tensors, _to_json_plain,  # noqa: F401
                           _unshared, engine_state, load_engine_state, pack_state, rng_state, set_rng_state,
                           unpack_state)

FORMAT = "genstudio-checkpoint/1"
_NAME = re.compile(r"^step_(\d{8})\.json$")
BEST = "best.json"


class DamagedCheckpoint(CheckpointError):
    """A checkpoint's files are unreadable, incomplete or fail their checksum (an older one may be intact)."""


class DiskFullError(CheckpointError):
    """The disk filled while a checkpoint was written; the previous checkpoint is intact."""


DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, DiskFullError) or (isinstance(exc, OSError) and exc.errno in DISK_FULL)


def _megabytes(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{max(n, 0) / 1e3:,.0f} kB"


def disk_full_message(run_dir: Path, writing: str, needed: int | None = None) -> str:
    """One plain paragraph: disk full, where, about how much is needed, the last good checkpoint."""
    folder = Path(run_dir)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    need = f"; it needs about {_megabytes(needed)}" if needed else ""
    have = f" ({_megabytes(free)} free)" if free is not None else ""
    intact = checkpoint_paths(folder)
    last = (f"the last good checkpoint is step {intact[-1][0]} ({intact[-1][1]})" if intact
            else "no checkpoint was saved yet")
    return (f"disk full: could not write {writing} in {folder}{have}{need}; {last}. Free some space, then "
            f"continue with `genstudio train --out {folder} --resume`")


# --- atomic files ------------------------------------------------------------------------------

def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # like any file the person writes, not private as mkstemp makes it
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


# --- files --------------------------------------------------------------------------------------

def checkpoint_paths(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, json path) of every complete checkpoint in the run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m and p.with_suffix(".safetensors").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def checkpoint_records(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, json path) of every checkpoint record, oldest first, its tensors' file there or not: the
    JSON is written last (the commit), so one without its tensors is a checkpoint that lost them."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name)))


def save_checkpoint(run_dir: Path, step: int, payload: dict, meta: dict, keep: int | None = None,
                    protect: set[int] = frozenset(), best: bool = False) -> Path:
    """Write checkpoint `step`: payload may hold tensors anywhere; meta must be JSON-able.

    best=True also makes it the run's "best" checkpoint (a separate copy that is never pruned).
    """
    folder = Path(run_dir) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    structure = _split_tensors(payload, "s", tensors)
    blob = st_save(_unshared(tensors))
    stem = f"step_{step:08d}"
    record = {"format": FORMAT, "step": step, "tensors": f"{stem}.safetensors",
              "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob),
              "state": _to_json_plain(structure), **meta}
    try:
        atomic_write_bytes(folder / f"{stem}.safetensors", blob)
        atomic_write_json(folder / f"{stem}.json", record)
        if best:
            _write_best(folder, stem, blob, record)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        if not (folder / f"{stem}.json").exists():  # the JSON is the commit: without it the tensors are litter
            (folder / f"{stem}.safetensors").unlink(missing_ok=True)
        needed = len(blob) * (2 if best else 1) + 64 * 1024
        raise DiskFullError(disk_full_message(run_dir, f"the checkpoint of step {step}", needed)) from None
    if keep is not None:
        prune(run_dir, keep, protect | {step})
    return folder / f"{stem}.json"


def _write_best(folder: Path, stem: str, blob: bytes, record: dict) -> None:
    """Tensors under a fresh name first, then best.json (the commit), then the old best's tensors go."""
    name = f"best_{stem}.safetensors"
    atomic_write_bytes(folder / name, blob)
    atomic_write_json(folder / BEST, dict(record, tensors=name))
    for old in folder.glob("best_step_*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)


def best_checkpoint(run_dir: Path) -> Path | None:
    """The run's best checkpoint (by its family's validation measure), if it has one."""
    path = Path(run_dir) / "checkpoints" / BEST
    return path if path.is_file() else None


def discard_checkpoints_after(run_dir: Path, step: int) -> list[int]:
    """Delete step checkpoints newer than `step` (an abandoned timeline after a rollback).

    The best copy stays: it was a real state of the model, reached before the rollback.
    """
    dropped = []
    for s, p in checkpoint_paths(run_dir):
        if s > step:
            p.unlink(missing_ok=True)
            p.with_suffix(".safetensors").unlink(missing_ok=True)
            dropped.append(s)
    return dropped


def remove_stale_temp_files(run_dir: Path) -> int:
    """Delete what a process killed mid-write leaves: temp files, tensors whose JSON never landed.

    Only call this when no other process writes to the run (when resuming it).
    """
    folder = Path(run_dir) / "checkpoints"
    removed = 0
    if folder.is_dir():
        stale = list(folder.glob(".*.tmp"))
        stale += [p for p in folder.glob("step_*.safetensors") if not p.with_suffix(".json").exists()]
        for p in stale:
            p.unlink(missing_ok=True)
            removed += 1
    return removed


def prune(run_dir: Path, keep: int, protect: set[int] = frozenset()) -> None:
    paths = checkpoint_paths(run_dir)
    for step, p in paths[:-keep] if keep > 0 else paths:
        if step in protect:
            continue
        p.unlink(missing_ok=True)  # the JSON first: the checkpoint stops existing atomically
        p.with_suffix(".safetensors").unlink(missing_ok=True)


MAX_JSON_BYTES = 64 * 2**20  # a checkpoint's JSON (structure and facts); real ones are kilobytes


def load_checkpoint(path: Path, verify: bool = True) -> tuple[dict, dict]:
    """(payload with tensors restored, meta) from a checkpoint's JSON path."""
    path = Path(path)
    if path.suffix != ".json":
        raise CheckpointError(f"{path.name} is not a genstudio checkpoint (expected step_NNNNNNNN.json)")
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError(f"{path.name} is too large to be a genstudio checkpoint")
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DamagedCheckpoint(f"{path.name} is not readable: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not a genstudio checkpoint")
    from ..names import UnsafeName, check_name
    try:  # the tensors' file is named in the JSON: a name beside it, never a path
        tensor_path = path.parent / check_name(record.get("tensors"), "tensor file name", path.name)
    except UnsafeName as exc:
        raise CheckpointError(str(exc)) from None
    try:
        blob = tensor_path.read_bytes()
    except OSError:
        raise DamagedCheckpoint(f"{tensor_path.name} is missing") from None
    if verify and hashlib.sha256(blob).hexdigest() != record.get("sha256"):
        raise DamagedCheckpoint(f"{tensor_path.name} is damaged (checksum differs)")
    try:
        tensors = st_load(blob)
    except (SafetensorError, Exception) as exc:  # noqa: BLE001 - never fall back to anything else
        raise DamagedCheckpoint(f"{tensor_path.name} is not a safetensors file ({type(exc).__name__})") from None
    payload = _join_tensors(record["state"], tensors)
    meta = {k: v for k, v in record.items() if k not in ("state",)}
    return payload, meta


def latest_checkpoint(run_dir: Path) -> Path | None:
    paths = checkpoint_paths(run_dir)
    return paths[-1][1] if paths else None


def load_newest_intact(run_dir: Path, verify: bool = True) -> tuple[Path, dict, dict, list[str]]:
    """(json path, payload, meta, warnings) of the newest step checkpoint that loads intact.

    A damaged newer one is skipped with a warning (a sentence each); when none is intact, a
    CheckpointError lists what was wrong with each. Other refusals (a foreign checkpoint) still raise.
    """
    paths = checkpoint_records(run_dir)   # one that lost its tensors is said, not passed over in silence
    if not paths:
        raise CheckpointError(f"{run_dir} has no checkpoint yet; train it first")
    problems: list[tuple[int, str]] = []
    for step, path in reversed(paths):
        try:
            payload, meta = load_checkpoint(path, verify=verify)
        except DamagedCheckpoint as exc:
            problems.append((step, str(exc)))
            continue
        warnings = [f"the checkpoint of step {bad} is damaged ({why}); using step {step}, the newest intact one"
                    for bad, why in problems]
        return path, payload, meta, warnings
    raise DamagedCheckpoint(f"no intact checkpoint in {run_dir} (" +
                            "; ".join(f"step {bad}: {why}" for bad, why in problems) + ")")
