"""The one training loop every family runs under, as a generator of plain events.

    trainer = Trainer.new("dcgan", config, settings, dataset, out_dir)   # or Trainer.resume(run_dir, dataset)
    for event in trainer.run(control):
        ...

The studio's worker forwards the events as Qt signals; the command line prints them. Control
(stop, pause, save now) is a thread-safe object polled between steps.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .. import registry
from ..config import from_dict, param, replace_checked, to_dict
from ..data import ImageDataset
from ..families.base import Batch, DataSpec, Engine
from ..imaging import make_grid
from . import events as ev
from .checkpoint import (CheckpointError, engine_state, latest_checkpoint, load_checkpoint,
                         load_engine_state, rng_state, save_checkpoint, set_rng_state)
from .run import RunDir, RunError

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class TrainSettings:
    """How long and how to train; the same for every family."""
    steps: int = param(2000, min=1, max=10_000_000, help="Total optimisation steps.")
    batch_size: int = param(64, min=1, max=4096, help="Images per step.")
    seed: int = param(0, min=0, max=2**31 - 1, help="Seeds weights, data order and noise; same seed, same run.")
    device: str = param("auto", choices=DEVICES, help="Where to train; auto picks CUDA, then MPS, then CPU.")
    log_every: int = param(10, min=1, max=100_000, help="Steps between logged losses (averaged over the interval).")
    sample_every: int = param(200, min=0, max=1_000_000, help="Steps between sample grids; 0 turns them off.")
    checkpoint_every: int = param(500, min=0, max=1_000_000, help="Steps between checkpoints; 0: only at the end.")
    keep_checkpoints: int = param(3, min=1, max=1000, help="How many recent checkpoints to keep.")
    n_samples: int = param(64, min=1, max=256, help="Images in each sample grid (always from the same noise).")
    flip: bool = param(False, help="Random horizontal flips while training (augmentation).")
    val_fraction: float = param(0.1, min=0.0, max=0.5, help="Share of images held out for validation (families that validate).")
    validate_every: int = param(500, min=0, max=1_000_000, help="Steps between validation passes; 0 turns them off.")
    monitor_every: int = param(100, min=0, max=1_000_000, help="Steps between family diagnostics (collapse, divergence); 0 turns them off.")


class Control:
    """Thread-safe requests from the person to the loop; polled between steps."""

    def __init__(self):
        self._stop = threading.Event()
        self._save = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused loop must wake up to stop

    def request_save(self) -> None:
        self._save.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def take_save_request(self) -> bool:
        if self._save.is_set():
            self._save.clear()
            return True
        return False

    def wait_while_paused(self, timeout: float = 0.2) -> None:
        self._running.wait(timeout)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RunError("CUDA was asked for but no CUDA GPU is available; use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RunError("MPS was asked for but is not available on this machine; use --device cpu or auto")
    if name not in DEVICES:
        raise RunError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    return torch.device(name)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower()


def engine_overrides_validate(engine: Engine) -> bool:
    return type(engine).validate is not Engine.validate


class Trainer:
    """Owns one run: the engine, the data order, the run folder and the loop state."""

    def __init__(self, family: registry.Family, config, settings: TrainSettings, dataset: ImageDataset,
                 run: RunDir | None, device: torch.device):
        self.family = family
        self.config = config
        self.settings = settings
        self.run_dir = run
        self.device = device
        self.spec = DataSpec(dataset.size, dataset.channels, dataset.num_classes, tuple(dataset.class_names))
        torch.manual_seed(settings.seed)
        np.random.seed(settings.seed % 2**32)
        self.engine: Engine = family.engine_class(config, self.spec, device)
        if engine_overrides_validate(self.engine) and settings.val_fraction > 0 and len(dataset) >= 2:
            self.train_data, self.val_data = dataset.split(settings.val_fraction, seed=settings.seed)
        else:
            self.train_data, self.val_data = dataset, None
        self.step = 0
        self._acc: dict[str, float] = {}
        self._acc_n = 0
        self._pending_metrics: dict[str, float] = {}
        self._sample_labels = self._fixed_sample_labels()

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def new(cls, family_name: str, config, settings: TrainSettings, dataset: ImageDataset,
            out_dir: str | Path | None, data_record: dict | None = None) -> "Trainer":
        family = registry.get(family_name)
        device = resolve_device(settings.device)
        if len(dataset) < 1:
            raise RunError("the dataset has no images")
        run = None
        if out_dir is not None:
            run = RunDir.create(out_dir, {
                "family": family.name, "config": to_dict(config), "settings": to_dict(settings),
                "data": {**dataset.describe(), **(data_record or {})}, "device": str(device),
                "data_spec": DataSpec(dataset.size, dataset.channels, dataset.num_classes,
                                      tuple(dataset.class_names)).to_json()})
        return cls(family, config, settings, dataset, run, device)

    @classmethod
    def resume(cls, run_path: str | Path, dataset: ImageDataset, steps: int | None = None,
               device: str | None = None) -> "Trainer":
        """Continue a run from its latest checkpoint (exactly, on the same device)."""
        run = RunDir.open(run_path)
        rec = run.record()
        try:
            family = registry.get(rec["family"])
        except registry.UnknownFamily as exc:
            raise RunError(str(exc)) from None
        config = from_dict(family.config_class, rec["config"], strict=False)
        settings = from_dict(TrainSettings, rec["settings"], strict=False)
        changes = {}
        if steps is not None:
            changes["steps"] = steps
        if device is not None:
            changes["device"] = device
        settings = replace_checked(settings, **changes)
        spec = DataSpec.from_json(rec["data_spec"])
        got = DataSpec(dataset.size, dataset.channels, dataset.num_classes, tuple(dataset.class_names))
        if (got.size, got.channels, got.class_names) != (spec.size, spec.channels, spec.class_names):
            raise RunError(f"the data does not match this run (run: {spec.size}px, {spec.channels} channels, "
                           f"{spec.num_classes} classes; data: {got.size}px, {got.channels} channels, "
                           f"{got.num_classes} classes)")
        trainer = cls(family, config, settings, dataset, run, resolve_device(settings.device))
        ckpt = latest_checkpoint(run.path)
        if ckpt is not None:
            trainer.load(ckpt)
        return trainer

    # --- state ---------------------------------------------------------------------------------
    def _loop_state(self) -> dict:
        return {"step": self.step, "acc": dict(self._acc), "acc_n": self._acc_n,
                "pending_metrics": dict(self._pending_metrics)}

    def save(self) -> Path | None:
        if self.run_dir is None:
            return None
        payload = {"engine": engine_state(self.engine), "rng": rng_state()}
        meta = {"family": self.family.name, "config": to_dict(self.config), "settings": to_dict(self.settings),
                "data_spec": self.spec.to_json(), "loop": self._loop_state()}
        return save_checkpoint(self.run_dir.path, self.step, payload, meta, keep=self.settings.keep_checkpoints)

    def load(self, path: Path) -> None:
        payload, meta = load_checkpoint(path)
        if meta.get("family") != self.family.name:
            raise CheckpointError(f"checkpoint is from family {meta.get('family')!r}, not {self.family.name!r}")
        load_engine_state(self.engine, payload["engine"])
        set_rng_state(payload["rng"])
        loop = meta["loop"]
        self.step = int(loop["step"])
        self._acc = {k: float(v) for k, v in loop["acc"].items()}
        self._acc_n = int(loop["acc_n"])
        self._pending_metrics = dict(loop.get("pending_metrics", {}))
        if self.run_dir is not None:
            self.run_dir.truncate_metrics(self.step)

    # --- data -----------------------------------------------------------------------------------
    def _fixed_sample_labels(self) -> np.ndarray | None:
        if self.spec.num_classes == 0 or not getattr(self.engine, "conditional", False):
            return None
        return np.arange(self.settings.n_samples) % self.spec.num_classes

    def _batch_indices(self, step: int) -> np.ndarray:
        """Indices for `step`: epochs are seeded permutations, so the order depends on the step only."""
        n, b = len(self.train_data), self.settings.batch_size
        start = step * b
        out = []
        while len(out) < b:
            epoch, pos = divmod(start + len(out), n)
            perm = np.random.default_rng([self.settings.seed, epoch]).permutation(n)
            take = min(b - len(out), n - pos)
            out.extend(perm[pos:pos + take])
        return np.asarray(out)

    def _batch(self, step: int) -> Batch:
        idx = self._batch_indices(step)
        order = np.argsort(idx, kind="stable")  # sorted reads are kind to memory-mapped arrays
        pixels = np.empty((len(idx),) + self.train_data.images.shape[1:], np.uint8)
        pixels[order] = self.train_data.images[idx[order]]
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
        if self.settings.flip:
            flip = torch.rand(len(idx)) < 0.5
            x[flip] = x[flip].flip(-1)
        y = torch.from_numpy(np.asarray(self.train_data.labels[idx], dtype=np.int64))
        return Batch(x.to(self.device, non_blocking=True), y.to(self.device))

    def val_batches(self, batch_size: int = 256) -> Iterator[Batch]:
        data = self.val_data
        if data is None:
            return
        for i in range(0, len(data), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(data.images[i:i + batch_size])).permute(0, 3, 1, 2)
            y = torch.from_numpy(np.asarray(data.labels[i:i + batch_size], dtype=np.int64))
            yield Batch(x.contiguous().to(self.device), y.to(self.device))

    # --- the loop ---------------------------------------------------------------------------------
    def make_samples(self) -> ev.Samples:
        images = self.engine.sample(self.settings.n_samples, seed=self.settings.seed + 1_000_003,
                                    labels=self._sample_labels)
        columns = self.spec.num_classes if self._sample_labels is not None and self.spec.num_classes <= 16 else None
        grid = make_grid(images, columns=columns)
        path = str(self.run_dir.save_samples(self.step, grid)) if self.run_dir is not None else None
        return ev.Samples(self.step, images, grid, path)

    def _validate(self) -> dict[str, float]:
        if self.val_data is None:
            return {}
        return {f"val/{k}" if not k.startswith("val") else k: float(v)
                for k, v in self.engine.validate(self.val_batches()).items()}

    def _set_status(self, status: str) -> None:
        if self.run_dir is not None:
            self.run_dir.update_record(status=status, step=self.step, updated=time.time())

    def run(self, control: Control | None = None) -> Iterator[ev.Event]:
        """Train to settings.steps, yielding events. Never raises: failures become a Failed event."""
        control = control or Control()
        s = self.settings
        try:
            yield from self._run(control, s)
        except Exception as exc:  # noqa: BLE001 - the loop reports, the caller decides
            if _is_oom(exc):
                message = (f"out of memory at batch size {s.batch_size}; try a smaller batch size "
                           f"(for example {max(1, s.batch_size // 2)})")
            else:
                message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self._set_status_quietly("failed")
            yield ev.Failed(self.step, message, traceback.format_exc())

    def _set_status_quietly(self, status: str) -> None:
        try:
            self._set_status(status)
        except Exception:  # noqa: BLE001 - the original failure matters more
            pass

    def _run(self, control: Control, s: TrainSettings) -> Iterator[ev.Event]:
        self._set_status("running")
        yield ev.Started(str(self.run_dir.path) if self.run_dir else None, self.family.name, self.step,
                         s.steps, str(self.device), self.engine.parameter_count())
        yield self.make_samples()
        start_step, t0 = self.step, time.perf_counter()
        step_time = None
        last_ckpt = self.step
        while self.step < s.steps:
            if control.paused:
                paused_at = time.perf_counter()
                yield ev.Paused(self.step)
                while control.paused and not control.stop_requested:
                    control.wait_while_paused()
                t0 += time.perf_counter() - paused_at  # paused time is not training time
                yield ev.Resumed(self.step)
            if control.stop_requested:
                break
            if control.take_save_request():
                path = self.save()
                if path is not None:
                    last_ckpt = self.step
                    yield ev.CheckpointSaved(self.step, str(path))

            t_step = time.perf_counter()
            losses = self.engine.train_step(self._batch(self.step))
            self.step += 1
            for k, v in losses.items():
                self._acc[k] = self._acc.get(k, 0.0) + float(v)
            self._acc_n += 1
            dt = time.perf_counter() - t_step
            step_time = dt if step_time is None else 0.9 * step_time + 0.1 * dt

            bad = [k for k, v in losses.items() if not math.isfinite(float(v))]
            if bad:
                raise FloatingPointError(f"loss {', '.join(bad)} became non-finite at step {self.step}")

            if s.validate_every and self.step % s.validate_every == 0 and self.val_data is not None:
                values = self._validate()
                if values:
                    self._pending_metrics.update(values)
                    yield ev.Metrics(self.step, values)

            if s.monitor_every and self.step % s.monitor_every == 0:
                values, findings = self.engine.monitor(self.step)
                if values:
                    self._pending_metrics.update(values)
                    yield ev.Metrics(self.step, dict(values))
                for f in findings:
                    yield ev.TrainWarning(self.step, f.message, f.kind, f.rollback)

            if self.step % s.log_every == 0 or self.step == s.steps:
                mean = {k: v / self._acc_n for k, v in self._acc.items()}
                elapsed = time.perf_counter() - t0
                per_step = elapsed / max(1, self.step - start_step)
                row = {"step": self.step, "losses": mean, "time": round(elapsed, 3)}
                if self._pending_metrics:
                    row["metrics"] = dict(self._pending_metrics)
                if self.run_dir is not None:
                    self.run_dir.append_metrics(row)
                self._acc, self._acc_n, self._pending_metrics = {}, 0, {}
                yield ev.Progress(self.step, s.steps, mean, s.batch_size / max(step_time, 1e-9), elapsed,
                                  per_step * (s.steps - self.step))

            if s.sample_every and self.step % s.sample_every == 0:
                yield self.make_samples()
            if s.checkpoint_every and self.step % s.checkpoint_every == 0:
                path = self.save()
                if path is not None:
                    last_ckpt = self.step
                    yield ev.CheckpointSaved(self.step, str(path))

        if self.run_dir is not None and (self.step != last_ckpt or not self.run_dir.checkpoints()):
            yield ev.CheckpointSaved(self.step, str(self.save()))
        if not (s.sample_every and self.step % s.sample_every == 0):
            yield self.make_samples()
        reason = "stopped" if self.step < s.steps else "completed"
        self._set_status("stopped" if reason == "stopped" else "finished")
        yield ev.Finished(self.step, reason)
