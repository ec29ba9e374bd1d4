"""The one training loop every family runs under, as a generator of plain events.

    trainer = Trainer.new("dcgan", config, settings, dataset, out_dir)   # or Trainer.resume(run_dir, dataset)
    for event in trainer.run(control):
        ...

The studio's worker forwards the events as Qt signals; the command line prints them. Control
(stop, pause, save now, roll back) is a thread-safe object polled between steps.

Safety: a non-finite loss, gradient (Engine.optimizer_step) or weight never gets trained on or
saved. The loop rolls back to the last good checkpoint (or an in-memory copy of the starting
state), scales the learning rate by `lr_backoff`, reports a TrainWarning(kind="rollback") and a
metrics.jsonl row {"event": "rollback"}; after `max_rollbacks` it stops with Failed(kind="diverged").

Several processes (torch.distributed initialised, by `genstudio train --nproc-per-node N`, torchrun
or a test): the same Trainer runs in each. settings.batch_size is the global batch, split into one
shard per rank of the same seeded order; gradients are averaged at the one seam; weights start from
rank 0's; rank 0 alone writes the run folder and hears the person (its Control is mirrored to the
others every step); losses are logged as the mean over ranks; decisions (non-finite values, a new
best, the time budget, rollbacks) are taken together; a failing rank stops the others at once and
the run says which one failed (see Trainer._process_failed and engines/runtime/distributed.py).
"""

from __future__ import annotations

import copy
import math
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .. import registry
from ..config import field_infos, from_dict, param, replace_checked, to_dict
from ..data import ImageDataset
from ..families.base import Batch, DataSpec, Engine, NonFiniteError
from ..imaging import class_grid_columns, make_grid
from ..runtime.threads import apply_threads
from ..runtime.thread_tuner import tuner_for
from ..runtime import distributed as dist_rt
from . import process_state
from . import events as ev
from .budget import Budget
from .checkpoint import (CheckpointError, DiskFullError, best_checkpoint, checkpoint_paths, discard_checkpoints_after,
                         disk_full_message, engine_state, is_disk_full, load_checkpoint, load_engine_state,
                         load_newest_intact, pack_state, remove_stale_temp_files, rng_state, save_checkpoint,
                         set_rng_state, unpack_state)
from .inputs import InputError, engine_inputs, record_inputs, reload_inputs
from .control import Control
from .device import resolve_device, resolve_precision
from .plan import RunPlan, check_batch_split
from .run import RunDir, RunError
from .sample_schedule import SampleSchedule
from .settings import DEVICES, NAN_POLICIES, PRECISIONS, TrainSettings  # noqa: F401 - the loop's public names

SMALL_DATA = 500  # images: at or below this many a run starts with a note on what to expect


def _now() -> float:
    """The loop's clock (training time, ETA, the time budget); tests replace it."""
    return time.perf_counter()


class Diverged(RuntimeError):
    """Training kept producing non-finite values; reported as Failed(kind="diverged")."""


_SHARED_ERRORS = {cls.__name__: cls for cls in (RunError, CheckpointError)}


def _from_main(fn):
    """Run `fn` on rank 0 only and hand its result (tensors and JSON values) to every process; a
    RunError/CheckpointError there is raised on every process, so they all stop alike. One process:
    just fn()."""
    if dist_rt.world_size() == 1:
        return fn()
    data, error = None, None
    if dist_rt.is_main():
        try:
            data = pack_state({"ok": fn()})
        except tuple(_SHARED_ERRORS.values()) as exc:
            error = exc
            data = pack_state({"error": [type(exc).__name__, str(exc)]})
    shared = unpack_state(dist_rt.broadcast_bytes(data))
    if error is not None:
        raise error
    if "error" in shared:
        kind, message = shared["error"]
        raise _SHARED_ERRORS.get(kind, RunError)(message)
    return shared["ok"]


def _rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """A process's own random stream (noise, flips): rank 0 keeps the run's seed, so one process
    trains exactly like an undistributed run."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower()


def _cpu_copy(obj):
    """A deep copy with every tensor in host memory (an in-memory snapshot must not double GPU use)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


def _is_collective_error(exc: BaseException) -> bool:
    """A collective failed because another process went away or stalled (gloo/NCCL/store errors)."""
    dist_error = getattr(torch.distributed, "DistError", ())
    text = str(exc)
    return (isinstance(exc, dist_error) if dist_error else False) or any(
        s in text for s in ("gloo", "NCCL", "Connection reset", "Connection closed", "timed out", "Timed out",
                            "Broken pipe", "ProcessGroup"))


def _weights_finite(engine: Engine) -> bool:
    """inf/NaN anywhere in the weights or buffers. A float64 sum per tensor is a few times cheaper
    than an elementwise check and cannot overflow for finite values, so it is exact."""
    with torch.no_grad():
        sums = [t.sum(dtype=torch.float64) for m in engine.modules().values()
                for t in (*m.parameters(), *m.buffers()) if t.is_floating_point()]
    return not sums or bool(torch.isfinite(torch.stack(sums)).all())


def engine_overrides_validate(engine: Engine) -> bool:
    return type(engine).validate is not Engine.validate


@dataclass
class _RemoteRun:
    """Where rank 0 keeps the run, seen from another process: a path only, never written."""
    path: Path


def load_plan_data(plan: RunPlan, **load_options) -> ImageDataset:
    """The plan's main image set, loaded and preprocessed as the plan says."""
    from ..data import load_images
    d = plan.data
    return load_images(list(d.sources), size=d.size, channels=d.channels, fit=d.fit, background=d.background,
                       **load_options)


class Trainer:
    """Owns one run: the engine, the data order, the run folder and the loop state."""

    def __init__(self, family: registry.Family, config, settings: TrainSettings, dataset: ImageDataset,
                 run: RunDir | None, device: torch.device, inputs: dict[str, object] | None = None):
        self.family = family
        self.config = config
        self.settings = settings
        # Several processes (torch.distributed initialised by the launcher or a test): rank 0 alone
        # writes the run folder; every process trains on its shard of each global batch.
        self.world, self.rank = dist_rt.world_size(), dist_rt.rank()
        self.is_main = self.rank == 0
        if self.world > 1:
            check_batch_split(settings.batch_size, self.world)
            if device.type == "cuda":
                device = torch.device("cuda", torch.cuda.current_device())  # cuda:LOCAL_RANK
            elif device.type != "cpu":
                raise RunError(f"training on several processes works on CPUs and CUDA GPUs, not {device.type}")
        self.local_batch = settings.batch_size // self.world
        self.run_dir = run if self.is_main else None
        self.persist = dist_rt.broadcast_flag(run is not None)  # rank 0 has a run folder
        self.device = device
        self.spec = DataSpec(dataset.size, dataset.channels, dataset.num_classes, tuple(dataset.class_names))
        # the weights are made with the thread count the run trains with: some initialisations (spectral
        # norm's power iterations) round differently on another count, and a run must repeat exactly
        if self.world == 1 or settings.threads > 0:
            apply_threads(settings.threads)
        torch.manual_seed(settings.seed)
        np.random.seed(settings.seed % 2**32)
        # the family's other inputs: ImageDataset (image sets), uint8 arrays (images), Engines (runs)
        self.input_values = dict(inputs or {})
        self.engine: Engine = family.engine_class(config, self.spec, device,
                                                  inputs=engine_inputs(family.engine_class, self.input_values))
        self.engine.grad_clip = float(settings.grad_clip)
        self.batch_norm = "none"
        self._notes: list[ev.TrainWarning] = []  # said once the run starts (resuming on another world size)
        if self.world > 1:
            self._join_processes()
        self.precision = resolve_precision(settings.precision, device, self.engine)
        self.engine.precision = self.precision
        self.channels_last = bool(settings.channels_last and device.type == "cuda")
        if self.channels_last:
            for m in self.engine.modules().values():
                m.to(memory_format=torch.channels_last)  # in place: optimisers keep their parameters
        validates = engine_overrides_validate(self.engine) and settings.val_fraction > 0
        if validates and len(dataset) >= 2:
            self.train_data, self.val_data = dataset.split(settings.val_fraction, seed=settings.seed)
        else:
            self.train_data, self.val_data = dataset, None
        # every other image set has its own held-out split and its own data order (its stream number)
        self.extra_train: dict[str, tuple[int, ImageDataset]] = {}
        for stream, spec in enumerate(family.engine_class.inputs[1:], start=1):
            data = self.input_values.get(spec.name)
            if isinstance(data, ImageDataset):
                if validates and len(data) >= 2:
                    data = data.split(settings.val_fraction, seed=settings.seed + stream)[0]
                self.extra_train[spec.name] = (stream, data)
        if self.extra_train:  # the same few real images in every training grid
            k = min(settings.n_samples, 64)
            fixed = self._batch_of(self.train_data, np.arange(min(k, len(self.train_data))), augment=False)
            for name, (_, data) in self.extra_train.items():
                fixed.extra[name] = self._batch_of(data, np.arange(min(k, len(data))), augment=False)
            self.engine.preview_batch = fixed
        self.step = 0
        self._acc: dict[str, float] = {}
        self._acc_n = 0
        self._pending_metrics: dict[str, float] = {}
        self._sample_labels = self._fixed_sample_labels()
        self._lr_scale = 1.0                 # product of every rollback's lr_backoff so far
        self._rollbacks = 0                  # automatic rollbacks (non-finite values) in this run
        self._best: float | None = None      # best validation value of engine.best_metric so far
        self._best_step: int | None = None
        self._snapshot: tuple[dict, dict] | None = None  # last good state while no checkpoint exists
        self._start_warnings: list[str] = []  # said when training starts (a damaged checkpoint skipped)
        # overfitting watch: (step, held-out value, mean training measure since the previous validation)
        self._val_history: list[list[float]] = []
        self._overfit_warned = False
        self._train_sum, self._train_n = 0.0, 0   # training measure since the last validation
        self._rollback_finding_step: int | None = None   # latest finding that offered a rollback
        self._phase = "starting"
        self._last_sampling_s: float | None = None  # how long the last sample grid took
        # steps and training time; the run's planned length that schedules read (engines/train/budget.py)
        self.budget = Budget(settings.steps, settings.time_limit, clock=lambda: _now())

    def train_seconds(self) -> float:
        """Training time over all sessions of the run so far, paused time not counted."""
        return self.budget.train_seconds()

    def _join_processes(self) -> None:
        """Same weights everywhere (rank 0's), gradients averaged at the one seam, own noise per rank.

        Batch norm: SyncBatchNorm on CUDA (statistics over the global batch); on CPU (gloo) each
        process normalises with its own shard's statistics and keeps its own running averages until
        the next broadcast (start, resume, rollback); checkpoints and samples use rank 0's.
        """
        self.engine.gradient_reducer = dist_rt.GradientAverager(self.engine.modules)
        modules = list(self.engine.modules().values())
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for mod in modules for m in mod.modules())
        if has_bn and self.device.type == "cuda":
            for m in modules:
                if torch.nn.SyncBatchNorm.convert_sync_batchnorm(m) is not m:
                    raise RunError("a family's top-level module is a batch norm; it cannot be synchronised")
            self.batch_norm = "synchronised (SyncBatchNorm over the global batch)"
        elif has_bn:
            self.batch_norm = "per process (each process's shard), running statistics averaged every step"
        dist_rt.broadcast_module_state(modules)
        if self.rank:
            self._reseed(0)

    def _reseed(self, step: int) -> None:
        seed = _rank_seed(self.settings.seed, self.rank, step)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)

    def distributed_record(self) -> dict:
        """What run.json and the Training panel say about the processes."""
        return {"world_size": self.world, "per_process_batch": self.local_batch,
                "global_batch": self.settings.batch_size,
                "backend": dist_rt.backend_name() if self.world > 1 else None,
                "batch_norm": self.batch_norm}

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def from_plan(cls, plan: RunPlan, dataset: ImageDataset | None = None,
                  inputs: dict[str, object] | None = None) -> "Trainer":
        """The one way every front door starts a run: a new one or a continued one, as `plan` says.
        `dataset`: the main image set when the caller loaded it already (else loaded here);
        `inputs`: the other inputs' values when loaded already (else loaded here for a new run,
        reloaded from where the run recorded them for a continued one)."""
        from .inputs import load_inputs
        if dataset is None:
            dataset = load_plan_data(plan)
        d = plan.data
        if plan.resume:
            return cls.resume(plan.out_dir, dataset, steps=plan.settings.steps, device=plan.settings.device,
                              family=plan.family, time_limit=plan.settings.time_limit, inputs=inputs)
        if inputs is None:
            inputs = load_inputs(registry.get(plan.family).engine_class, plan.given(), dataset.size, d.fit,
                                 d.background, main_loaded=True)
        return cls.new(plan.family, plan.config, plan.settings, dataset, plan.out_dir,
                       data_record={"fit": d.fit, "background": list(d.background)},
                       inputs=inputs, input_paths=plan.given())

    @classmethod
    def new(cls, family_name: str, config, settings: TrainSettings, dataset: ImageDataset,
            out_dir: str | Path | None, data_record: dict | None = None,
            inputs: dict[str, object] | None = None, input_paths: dict[str, list[str]] | None = None) -> "Trainer":
        """A new run. `inputs`: the values of the family's other inputs by name (see
        engines/train/inputs.py, which loads them); `input_paths`: where they came from, for run.json."""
        family = registry.get(family_name)
        inputs = dict(inputs or {})
        missing = [i for i in family.engine_class.inputs[1:] if i.required and inputs.get(i.name) is None]
        if missing:
            raise InputError(f"{family.name} needs input {missing[0].name!r}: {missing[0].expects()} "
                             f"(--input {missing[0].name}=PATH)")
        device = resolve_device(settings.device)
        if len(dataset) < 1:
            raise RunError("the dataset has no images")
        check_batch_split(settings.batch_size, dist_rt.world_size())

        def create():  # rank 0 alone makes the folder; the others hear whether it worked
            if out_dir is None:
                return None
            RunDir.create(out_dir, {
                "family": family.name, "config": to_dict(config), "settings": to_dict(settings),
                "data": {**dataset.describe(), **(data_record or {})}, "device": str(device),
                "data_spec": DataSpec(dataset.size, dataset.channels, dataset.num_classes,
                                      tuple(dataset.class_names)).to_json(),
                "inputs": record_inputs(family.engine_class, input_paths or {}, inputs)})
            return str(out_dir)

        made = _from_main(create)
        run = RunDir(Path(out_dir).expanduser()) if made is not None and dist_rt.is_main() else None
        if made is not None and run is None:
            run = _RemoteRun(Path(made))
        trainer = cls(family, config, settings, dataset, run, device, inputs)
        trainer._record_device()
        return trainer

    @classmethod
    def resume(cls, run_path: str | Path, dataset: ImageDataset, steps: int | None = None,
               device: str | None = None, family: str | None = None,
               time_limit: float | None = None, inputs: dict[str, object] | None = None) -> "Trainer":
        """Continue a run from its latest checkpoint (exactly, on the same device).

        `family`, when given, must be the run's family (a clear refusal otherwise).
        """
        def open_run():  # rank 0 reads the folder; the others get its record
            run = RunDir.open(run_path)
            busy = run.training_pid()
            if busy is not None:
                raise RunError(f"{run.path} is being trained right now by process {busy}; stop that one first")
            remove_stale_temp_files(run.path)
            return run.record()

        rec = _from_main(open_run)
        run = RunDir(Path(run_path).expanduser()) if dist_rt.is_main() else _RemoteRun(Path(run_path))
        if family is not None and family != rec.get("family"):
            raise RunError(f"{run.path} is a {rec.get('family')} run; it cannot be continued as {family}")
        try:
            fam = registry.get(rec["family"])
        except registry.UnknownFamily as exc:
            raise RunError(str(exc)) from None
        except KeyError:
            raise RunError(f"{run.path}/run.json does not say which family it trains") from None
        try:
            config = from_dict(fam.config_class, rec["config"], strict=False)
            settings = from_dict(TrainSettings, rec["settings"], strict=False)
            spec = DataSpec.from_json(rec["data_spec"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"{run.path}/run.json has settings this version cannot use ({exc})") from None
        changes = {}
        if steps is not None:
            changes["steps"] = steps
        if time_limit is not None:
            changes["time_limit"] = time_limit
        if device is not None:
            changes["device"] = device
        settings = replace_checked(settings, **changes)
        check_batch_split(settings.batch_size, dist_rt.world_size())
        got = DataSpec(dataset.size, dataset.channels, dataset.num_classes, tuple(dataset.class_names))
        if (got.size, got.channels, got.class_names) != (spec.size, spec.channels, spec.class_names):
            raise RunError(f"the data does not match this run (run: {spec.size}px, {spec.channels} channels, "
                           f"{spec.num_classes} classes; data: {got.size}px, {got.channels} channels, "
                           f"{got.num_classes} classes)")
        if inputs is None and len(fam.engine_class.inputs) > 1:  # load them again from where they were
            data = rec.get("data", {})
            inputs = reload_inputs(fam.engine_class, rec, spec.size, data.get("fit", "center-crop"),
                                   data.get("background", (255, 255, 255)), resolve_device(settings.device))
        trainer = cls(fam, config, settings, dataset, run, resolve_device(settings.device), inputs)

        def newest():  # the newest intact one (rank 0 reads it); damaged newer ones are set aside, said
            if not checkpoint_paths(run.path):
                return None
            path, payload, meta, warnings = load_newest_intact(run.path)
            payload, meta = trainer._read_checkpoint(path, (payload, meta))
            return {"payload": payload, "meta": meta, "warnings": warnings}

        found = _from_main(newest)
        if found is not None:
            trainer._start_warnings = list(found["warnings"])
            trainer._apply_state(found["payload"], found["meta"])
            if trainer.run_dir is not None:
                trainer.run_dir.truncate_metrics(trainer.step)
                trainer._set_aside_after(trainer.step)
        elif trainer.run_dir is not None:  # killed before its first checkpoint: start over cleanly
            run.truncate_metrics(0)
            run.truncate_samples(0)
        trainer._record_device()
        return trainer

    def _record_device(self) -> None:
        if self.run_dir is not None:
            self.run_dir.update_record(device=str(self.device), precision=self.precision,
                                       channels_last=self.channels_last, settings=to_dict(self.settings),
                                       distributed=self.distributed_record())

    # --- state ---------------------------------------------------------------------------------
    def _loop_state(self) -> dict:
        return {"step": self.step, "acc": dict(self._acc), "acc_n": self._acc_n,
                "pending_metrics": dict(self._pending_metrics), "lr_scale": self._lr_scale,
                "rollbacks": self._rollbacks, "best": self._best, "best_step": self._best_step,
                "val_history": self._val_history, "overfit_warned": self._overfit_warned,
                "train_since_val": [self._train_sum, self._train_n],
                "train_seconds": self.train_seconds()}

    def _state(self) -> tuple[dict, dict]:
        """The checkpoint's content. Several processes (a collective): every process's own random
        state and loss accumulators go in too ("ranks"), gathered to all, so each can continue exactly."""
        payload = {"engine": engine_state(self.engine), "rng": rng_state()}
        meta = {"family": self.family.name, "config": to_dict(self.config), "settings": to_dict(self.settings),
                "data_spec": self.spec.to_json(), "loop": self._loop_state()}
        if self.world > 1:
            mine = pack_state({"rng": payload["rng"], "acc": dict(self._acc), "acc_n": self._acc_n,
                               **process_state.rank_payload(self.engine)})
            payload["ranks"] = [unpack_state(b) for b in dist_rt.gather_bytes(mine)]
            meta["loop"]["world_size"] = self.world
        if self.engine.best_metric:
            meta["best_metric"] = self.engine.best_metric
        return payload, meta

    def save(self, best: bool = False) -> Path | None:
        """Checkpoint now (run folder) or refresh the in-memory last good state (no run folder).

        Raises NonFiniteError instead of saving weights that hold inf/NaN.
        """
        if not _weights_finite(self.engine):  # weights are the same on every process: they all agree
            raise NonFiniteError(f"the weights became non-finite by step {self.step}")
        if not self.persist:
            self._snapshot = _cpu_copy(self._state())
            return None
        payload, meta = self._state()
        path = None
        if self.run_dir is not None:
            path = save_checkpoint(self.run_dir.path, self.step, payload, meta,
                                   keep=self.settings.keep_checkpoints, best=best)
        dist_rt.barrier()  # nobody trains on while rank 0 writes
        self._snapshot = None  # the checkpoint on disk is the last good state now
        return path

    def _set_aside_after(self, step: int) -> None:
        """Rename checkpoints newer than `step` (damaged ones skipped on resume) to damaged_*, kept for
        a look but out of the run's timeline: training from `step` writes its own newer ones."""
        for s, p in checkpoint_paths(self.run_dir.path):
            if s > step:
                for f in (p, p.with_suffix(".safetensors")):
                    if f.exists():
                        f.replace(f.with_name(f"damaged_{f.name}"))

    def load(self, path: Path, loaded: tuple[dict, dict] | None = None) -> None:
        """Continue from a checkpoint (rank 0 reads it; every process gets the same state)."""
        payload, meta = _from_main(lambda: self._read_checkpoint(path, loaded))
        self._apply_state(payload, meta)
        if self.run_dir is not None:
            self.run_dir.truncate_metrics(self.step)

    def _read_checkpoint(self, path: Path, loaded: tuple[dict, dict] | None = None) -> tuple[dict, dict]:
        payload, meta = loaded if loaded is not None else load_checkpoint(path)
        if meta.get("family") != self.family.name:
            raise CheckpointError(f"checkpoint is from family {meta.get('family')!r}, not {self.family.name!r}")
        ours = to_dict(self.config)
        theirs = meta.get("config", {})
        differ = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
        if differ:
            k = differ[0]
            raise CheckpointError(f"the checkpoint was trained with other settings than this run's run.json "
                                  f"({k}: {theirs[k]!r} in the checkpoint, {ours[k]!r} in run.json); "
                                  f"it cannot be continued")
        best = best_checkpoint(self.run_dir.path) if self.run_dir is not None else None
        if best is not None and self.engine.best_metric:
            try:  # the best copy may come from a later, abandoned timeline: it still counts
                _, best_meta = load_checkpoint(best, verify=False)
                value = best_meta.get("loop", {}).get("best")
                loop = meta.setdefault("loop", {})
                mine = loop.get("best")
                if value is not None and (mine is None or value < mine):
                    loop["best"], loop["best_step"] = float(value), int(best_meta["step"])
            except CheckpointError:
                pass
        return payload, meta

    def _apply_state(self, payload: dict, meta: dict) -> None:
        loop = meta["loop"]
        self.step = int(loop["step"])
        saved_world = int(loop.get("world_size", 1))
        ranks = payload.get("ranks") or [{"rng": payload["rng"], "acc": loop["acc"], "acc_n": loop["acc_n"]}]
        # each process's own part (extra state; replay buffer, pool) back to the same rank
        load_engine_state(self.engine, process_state.own_engine_state(payload["engine"], ranks, self.rank,
                                                                      saved_world == self.world))
        if saved_world == self.world:  # exact: each process takes up its own random state and sums
            mine = ranks[self.rank]
            set_rng_state(mine["rng"])
            self._acc = {k: float(v) for k, v in mine["acc"].items()}
        else:  # the interval's mean so far carries over; the random draws cannot
            if self.rank == 0:
                set_rng_state(payload["rng"])
            else:
                self._reseed(self.step)
            self._acc = {k: sum(float(r["acc"][k]) for r in ranks) / len(ranks) for k in ranks[0]["acc"]}
            self._notes.append(ev.TrainWarning(
                self.step, f"this run was trained on {saved_world} process{'es' if saved_world > 1 else ''} and "
                f"continues on {self.world}: weights, optimisers and step carry over, but the random draws "
                f"(noise, flips, which process sees which images) differ from the interrupted run, so it will "
                f"not repeat an uninterrupted run exactly{process_state.redistributed(self.engine, saved_world)}",
                "distributed"))
        self._acc_n = int(loop["acc_n"])
        self._pending_metrics = dict(loop.get("pending_metrics", {}))
        self._lr_scale = float(loop.get("lr_scale", 1.0))
        self._rollbacks = int(loop.get("rollbacks", 0))
        self._best = loop.get("best")
        self._best_step = loop.get("best_step")
        self._val_history = [list(row) for row in loop.get("val_history", [])]
        self._overfit_warned = bool(loop.get("overfit_warned", False))
        self._train_sum, self._train_n = (float(v) for v in loop.get("train_since_val", [0.0, 0]))
        self._train_n = int(self._train_n)
        if not self.budget.started:  # resuming: the budget goes on from the checkpoint's training time
            self.budget.seconds_before = float(loop.get("train_seconds", 0.0))

    # --- data -----------------------------------------------------------------------------------
    def _fixed_sample_labels(self) -> np.ndarray | None:
        if self.spec.num_classes == 0 or not self.engine.conditional:
            return None
        n, k = self.settings.n_samples, self.spec.num_classes
        if k <= 16:   # a grid with a class per column: whole rows (64 of 10 classes: 60, not 6 rows and 4)
            columns = class_grid_columns(n, k)
            n = max(n // columns * columns, min(n, columns))
        return np.arange(n) % k

    def _batch_indices(self, step: int, n: int | None = None, stream: int = 0) -> np.ndarray:
        """Indices for `step`: epochs are seeded permutations, so the order depends on the step only.
        `stream` > 0 numbers another image set of the family (its own order, same rule)."""
        n = len(self.train_data) if n is None else n
        b = self.settings.batch_size
        start = step * b
        key = [self.settings.seed] if stream == 0 else [self.settings.seed, stream]
        out = []
        while len(out) < b:
            epoch, pos = divmod(start + len(out), n)
            perm = np.random.default_rng([*key, epoch]).permutation(n)
            take = min(b - len(out), n - pos)
            out.extend(perm[pos:pos + take])
        return np.asarray(out)

    def shard_indices(self, step: int, n: int | None = None, stream: int = 0) -> np.ndarray:
        """This process's part of the global batch of `step`: rank r takes the r-th slice of
        batch_size / world images, so the processes together see exactly the one-process batch."""
        b = self.local_batch
        return self._batch_indices(step, n, stream)[self.rank * b:(self.rank + 1) * b]

    def _batch(self, step: int) -> Batch:
        batch = self._batch_of(self.train_data, self.shard_indices(step))
        for name, (stream, data) in self.extra_train.items():
            batch.extra[name] = self._batch_of(data, self.shard_indices(step, len(data), stream))
        return batch

    def _batch_of(self, data: ImageDataset, idx: np.ndarray, augment: bool = True) -> Batch:
        order = np.argsort(idx, kind="stable")  # sorted reads are kind to memory-mapped arrays
        pixels = np.empty((len(idx),) + data.images.shape[1:], np.uint8)
        pixels[order] = data.images[idx[order]]
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
        if self.settings.flip and augment:
            flip = torch.rand(len(idx)) < 0.5
            x[flip] = x[flip].flip(-1)
        y = torch.from_numpy(np.asarray(data.labels[idx], dtype=np.int64))
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return Batch(x, y.to(self.device))

    def val_batches(self, batch_size: int = 256) -> Iterator[Batch]:
        data = self.val_data
        if data is None:
            return
        for i in range(0, len(data), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(data.images[i:i + batch_size])).permute(0, 3, 1, 2)
            y = torch.from_numpy(np.asarray(data.labels[i:i + batch_size], dtype=np.int64))
            yield Batch(x.contiguous().to(self.device), y.to(self.device))

    # --- the loop ---------------------------------------------------------------------------------
    def _sample_events(self, keep_rng: bool = False) -> Iterator[ev.Event]:
        """Phase (so a person sees why steps stand still while a slow family draws), then Samples.
        keep_rng: the random state is set aside while drawing (grids on a clock must not change training)."""
        yield ev.Phase(self.step, "sampling", f"drawing {self.settings.n_samples} sample images",
                       self._last_sampling_s)
        t0 = time.perf_counter()
        if keep_rng:
            devices = [self.device.index or 0] if self.device.type == "cuda" else []
            numpy_state = np.random.get_state()
            with torch.random.fork_rng(devices=devices):
                samples = self.make_samples()
            np.random.set_state(numpy_state)
        else:
            samples = self.make_samples()
        self._last_sampling_s = time.perf_counter() - t0
        yield samples

    def make_samples(self) -> ev.Samples:
        self._phase = "sampling"
        n = len(self._sample_labels) if self._sample_labels is not None else self.settings.n_samples
        images = self.engine.preview(n, seed=self.settings.seed + 1_000_003, labels=self._sample_labels)
        labels, names = self._sample_labels, self.spec.class_names
        columns = self.engine.preview_columns
        if columns is None and labels is not None and self.spec.num_classes <= 16:
            columns = class_grid_columns(len(images), self.spec.num_classes)
        grid = make_grid(images, columns=columns)
        path = str(self.run_dir.save_samples(self.step, grid)) if self.run_dir is not None else None
        captions = (tuple(names[int(y)] if int(y) < len(names) else str(int(y)) for y in labels[:len(images)])
                    if labels is not None else None)
        return ev.Samples(self.step, images, grid, path, captions)

    def _validate(self) -> dict[str, float]:
        if self.val_data is None:
            return {}
        self._phase = "validation"
        return {f"val/{k}" if not k.startswith("val") else k: float(v)
                for k, v in self.engine.validate(self.val_batches()).items()}

    def _is_new_best(self, values: dict[str, float]) -> bool:
        name = self.engine.best_metric
        if not name:
            return False
        value = values.get(name if name.startswith("val") else f"val/{name}")
        if value is None or not math.isfinite(value) or (self._best is not None and value >= self._best):
            return False
        self._best, self._best_step = float(value), self.step
        return True

    # --- overfitting and small data ----------------------------------------------------------------
    def _train_measure(self, losses: dict) -> str | None:
        """The training loss that mirrors the held-out measure (the family's `train_measure`, else the
        loss named like `best_metric`, else "loss", else the first one)."""
        if not self.engine.best_metric or not losses:
            return None
        for name in (self.engine.train_measure, self.engine.best_metric, "loss"):
            if name and name in losses:
                return name
        return next(iter(losses))

    def _watch_overfitting(self, values: dict[str, float], new_best: bool) -> ev.TrainWarning | None:
        """A warning (once per episode) when the held-out measure got worse `overfit_patience`
        validations in a row (by more than 2% in all, not noise) while the training measure went down
        over the same span."""
        name = self.engine.best_metric
        key = name if name and name.startswith("val") else f"val/{name}"
        value = values.get(key)
        train = self._train_sum / self._train_n if self._train_n else None
        self._train_sum, self._train_n = 0.0, 0
        if value is None or train is None or not math.isfinite(value):
            return None
        patience = self.settings.overfit_patience
        self._val_history = (self._val_history + [[self.step, float(value), float(train)]])[-(patience + 1):]
        if new_best:
            self._overfit_warned = False  # improving again: a later episode is worth saying
        if patience <= 0 or self._overfit_warned or len(self._val_history) < patience + 1:
            return None
        rows = self._val_history
        worse = all(b[1] > a[1] for a, b in zip(rows, rows[1:])) and rows[-1][1] - rows[0][1] > 0.02 * abs(rows[0][1])
        if not (worse and rows[-1][2] < rows[0][2]):
            return None
        self._overfit_warned = True
        (s0, v0, t0), (s1, v1, t1) = rows[0], rows[-1]
        measure = getattr(self, "_measure_name", "loss")
        best = (f" The best checkpoint (step {self._best_step:,}, {name} {self._best:.4g}) is kept: use it to "
                f"sample and export." if self._best_step is not None and self._best is not None else "")
        return ev.TrainWarning(
            self.step, f"overfitting: held-out {name} got worse {patience} validations in a row, {v0:.4g} at step "
            f"{int(s0):,} to {v1:.4g} at step {int(s1):,}, while the training {measure} fell from {t0:.4g} to "
            f"{t1:.4g}: the model is memorising its {len(self.train_data):,} training images.{best} "
            f"What helps: more images, flip=true, a smaller network, or fewer steps.", "overfitting")

    def _data_notes(self) -> list[ev.TrainWarning | ev.Note]:
        """What to expect from very little data, said once when a run starts."""
        n = len(self.train_data) + (len(self.val_data) if self.val_data is not None else 0)
        gan = any(i.name == "diffaugment" for i in field_infos(self.config))
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
        if self.engine.best_metric:
            helps.append("sampling from the best checkpoint, which is kept")
        return [ev.Note(0, f"{n:,} images is a small dataset: expect the model to memorise them, with samples "
                                f"close to training images" + (" and a held-out measure that improves, then rises"
                                                               if self.engine.best_metric else "")
                                + ". What helps: " + "; ".join(helps) + ".", "small-data")]

    def _set_status(self, status: str) -> None:
        if self.run_dir is not None:
            changes = {"status": status, "step": self.step, "updated": time.time()}
            if status == "running":  # lets a run list tell a live run from one that was killed
                changes.update(pid=os.getpid(), host=socket.gethostname())
            self.run_dir.update_record(**changes)

    def run(self, control: Control | None = None) -> Iterator[ev.Event]:
        """Train to settings.steps, yielding events. Never raises: failures become a Failed event."""
        control = control or Control()
        s = self.settings
        self._requests = control  # what the person asks (rank 0's); the loop acts on the agreed copy below
        if self.world > 1:  # every process acts on the same requests at the same step (_sync_control)
            control = Control()
        try:
            yield from self._run(control, s)
        except Diverged as exc:  # every process diverges at the same step: they agree on losses
            self._set_status_quietly("failed")
            yield ev.Failed(self.step, str(exc), traceback.format_exc(), kind="diverged")
        except Exception as exc:  # noqa: BLE001 - the loop reports, the caller decides
            if self.world > 1:
                yield self._process_failed(exc)
                return
            kind = "error"
            if is_disk_full(exc):  # a plain sentence: where, roughly how much, the last good checkpoint
                kind = "disk-full"
                where = getattr(exc, "filename", None) or "the run folder"
                message = (str(exc) if isinstance(exc, DiskFullError) else disk_full_message(
                    self.run_dir.path if self.run_dir is not None else Path(where).parent, where))
            elif _is_oom(exc):
                kind = "out-of-memory"
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()  # give the memory back so the app can carry on
                where = {"validation": "during validation", "sampling": "while making samples"}.get(
                    self._phase, f"at step {self.step + 1}")
                message = (f"out of memory {where} with batch size {s.batch_size}; try a smaller batch "
                           f"size (for example {max(1, s.batch_size // 2)})")
            else:
                message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self._set_status_quietly("failed")
            yield ev.Failed(self.step, message, traceback.format_exc(), kind=kind)
        finally:
            if self.run_dir is not None and self.run_dir.tensorboard is not None:
                self.run_dir.tensorboard.close()
                self.run_dir.tensorboard = None

    def _open_tensorboard(self) -> Iterator[ev.Event]:
        """TensorBoard event files beside metrics.jsonl (engines/train/tensorboard.py decides who writes)."""
        if self.run_dir is None:
            return
        from . import tensorboard
        if not tensorboard.available():
            yield ev.TrainWarning(self.step, f"this run writes no TensorBoard files: tensorboardX is not "
                                  f"installed ({tensorboard.INSTALL_HINT})", "tensorboard")
            return
        try:
            log = tensorboard.open_log(self.run_dir.path, purge_step=self.step)
            if log is not None:
                log.hparams({"family": self.family.name, **{f"config/{k}": v for k, v in to_dict(self.config).items()},
                             **{f"settings/{k}": v for k, v in to_dict(self.settings).items()}})
        except Exception as exc:  # noqa: BLE001 - a side log must never stop training
            yield ev.TrainWarning(self.step, f"this run writes no TensorBoard files: {exc}", "tensorboard")
            return
        self.run_dir.tensorboard = log

    def _sync_control(self, control: Control) -> None:
        """Several processes: rank 0's stop/pause/save-now/roll-back requests (the person talks to
        rank 0) reach every process at the same step, so they all do the same thing."""
        if self.world == 1:
            return
        # Rank 0 reads the person's requests once and every process (rank 0 too) applies what was
        # broadcast to its own copy: a request arriving between the broadcast and the loop's next look
        # waits for the next step instead of reaching rank 0 alone.
        person = self._requests
        save, (wanted, before) = False, (False, None)
        stop = paused = False
        if self.is_main:
            save, (wanted, before) = person.take_save_request(), person.take_rollback_request()
            stop, paused = person.stop_requested, person.paused
        flags = dist_rt.broadcast_values([float(stop), float(paused), float(save),
                                          float(wanted), -1.0 if before is None else float(before)])
        stop, paused, save, wanted, before = flags
        if stop:
            control.request_stop()
        elif paused and not control.paused:
            control.pause()
        elif not paused and control.paused:
            control.resume()
        if save:
            control.request_save()
        if wanted:
            control.request_rollback(None if before < 0 else int(before))

    def _process_failed(self, exc: Exception) -> ev.Failed:
        """One of several processes failed. The first to fail publishes why and leaves the group,
        so every other process's next collective fails at once (no waiting for the timeout); each
        then reports the first failure, naming its process, and rank 0 writes it into run.json."""
        details = traceback.format_exc()
        own = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if _is_oom(exc):
            own = f"out of memory at step {self.step + 1} with {self.local_batch} images per process"
        peer = dist_rt.peer_failure(self.rank, self.world)
        if peer is None and _is_collective_error(exc) and self.run_dir is not None:
            try:  # said at once: a launcher may end this process while it waits for the others' word
                self.run_dir.update_record(status="failed", step=self.step, updated=time.time(), failure={
                    "rank": None, "step": self.step + 1, "message": f"lost contact with the other processes ({own})"})
            except Exception:  # noqa: BLE001 - the original failure matters more
                pass
        if peer is None and _is_collective_error(exc):  # the failing process publishes first; be patient
            peer = dist_rt.peer_failure(self.rank, self.world, wait_s=3.0)
        if peer is not None:
            failed_rank, step, why = int(peer["rank"]), int(peer["step"]), str(peer["message"])
        elif _is_collective_error(exc):
            failed_rank, step, why = None, self.step, f"lost contact with the other processes ({own})"
        else:
            failed_rank, step, why = self.rank, self.step, own
            dist_rt.publish_failure(self.rank, step, own)
        who = f"process {failed_rank} of {self.world}" if failed_rank is not None else f"process {self.rank}"
        message = f"{who} failed at step {step + 1}: {why}"
        if self.run_dir is not None:
            try:
                self.run_dir.update_record(status="failed", step=self.step, updated=time.time(),
                                           failure={"rank": failed_rank, "step": step + 1, "message": why})
            except Exception:  # noqa: BLE001 - the original failure matters more
                pass
        if failed_rank == self.rank:
            dist_rt.leave_after_failure()  # the others' pending collectives fail now
            if self.rank != 0:
                dist_rt.wait_for_acknowledgement()  # rank 0 has written run.json before we exit
        elif self.is_main:
            dist_rt.acknowledge_failure()
        kind = "out-of-memory" if _is_oom(exc) and failed_rank == self.rank else "error"
        return ev.Failed(self.step, message, details, kind=kind, rank=failed_rank)

    def _set_status_quietly(self, status: str) -> None:
        try:
            self._set_status(status)
        except Exception:  # noqa: BLE001 - the original failure matters more
            pass

    # --- rollback -----------------------------------------------------------------------------------
    def _last_good_state(self, before_step: int | None) -> tuple[dict, dict] | None:
        """The checkpoint to go back to (rank 0 reads it, every process gets it), else the
        in-memory snapshot every process took of its own state at the same moment."""
        def pick():
            if self.run_dir is not None:
                paths = [p for step, p in checkpoint_paths(self.run_dir.path)
                         if before_step is None or step <= before_step]
                if paths:
                    return list(load_checkpoint(paths[-1]))
            return None

        state = _from_main(pick)
        return tuple(state) if state is not None else self._snapshot

    def rollback(self, reason: str, before_step: int | None = None, automatic: bool = True) -> ev.TrainWarning:
        """Return to the last good state (at or before `before_step`), lower the LR, say so."""
        from_step = self.step
        state = self._last_good_state(before_step)
        if state is None:
            raise CheckpointError("there is no earlier checkpoint to roll back to")
        payload, meta = state
        rollbacks, scale = self._rollbacks + (1 if automatic else 0), self._lr_scale * self.settings.lr_backoff
        self._apply_state(_cpu_copy(payload) if state is self._snapshot else payload, meta)
        self.engine.set_learning_rate_scale(scale / self._lr_scale)  # relative to the restored optimiser
        self._lr_scale, self._rollbacks = scale, rollbacks
        message = (f"{reason}; went back to step {self.step} and lowered the learning rate to {scale:g}x "
                   f"of the configured one")
        if automatic:
            message += f" (rollback {rollbacks} of at most {self.settings.max_rollbacks})"
        if self.run_dir is not None:
            discard_checkpoints_after(self.run_dir.path, self.step)
            self.run_dir.truncate_metrics(self.step)
            self.run_dir.truncate_samples(self.step)
            self.run_dir.append_metrics({"step": self.step, "event": "rollback", "from_step": from_step,
                                         "lr_scale": scale, "automatic": automatic, "message": message,
                                         "losses": {}})
        return ev.TrainWarning(self.step, message, "rollback", False)

    def _diverged(self, reason: str) -> ev.TrainWarning:
        s = self.settings
        if s.nan_policy == "fail":
            raise Diverged(f"{reason}; stopped (nan_policy is 'fail'). Try a lower learning rate or grad_clip")
        if self._rollbacks >= s.max_rollbacks:
            raise Diverged(f"{reason}, again after {self._rollbacks} rollbacks with a lower learning rate "
                           f"({self._lr_scale:g}x); stopped. Try a lower learning rate, grad_clip or a "
                           f"smaller model")
        return self.rollback(reason)

    # --- requests from the person --------------------------------------------------------------------
    def _serve_requests(self, control: Control) -> Iterator[ev.Event]:
        """Save-now and rollback requests; both are also served while paused."""
        if control.take_save_request():
            try:
                path = self.save()
            except FloatingPointError as exc:  # refuse to save garbage: roll back instead
                yield self._diverged(str(exc))
                path = None
            if path is not None:
                yield ev.CheckpointSaved(self.step, str(path))
        wanted, before = control.take_rollback_request()
        if wanted:
            if before is None:
                before = self._rollback_finding_step
            try:
                yield self.rollback(f"roll back requested at step {self.step}", before, automatic=False)
            except CheckpointError as exc:
                yield ev.TrainWarning(self.step, f"cannot roll back: {exc}", "rollback", False)

    def _run(self, control: Control, s: TrainSettings) -> Iterator[ev.Event]:
        self._set_status("running")
        # on the thread that trains (the studio's worker, the CLI's main thread); several processes on one
        # machine keep their share of the cores unless a count was asked for
        threads = (apply_threads(s.threads) if self.world == 1 or s.threads > 0
                   else torch.get_num_threads())
        yield ev.Started(str(self.run_dir.path) if self.run_dir else None, self.family.name, self.step,
                         s.steps, str(self.device), self.engine.parameter_count(), float(s.time_limit),
                         self.train_seconds(), self.world, self.local_batch, s.batch_size, threads)
        tuner = tuner_for(s.threads, threads, self.device.type, self.world)  # automatic threads that measure
        yield from self._open_tensorboard()
        for warning in self._start_warnings:
            yield ev.TrainWarning(self.step, warning, "damaged-checkpoint")
        if self.step == 0:
            yield from self._data_notes()
        if s.precision == "bf16" and self.precision != "bf16":
            yield ev.TrainWarning(self.step, f"bf16 is not available on {self.device.type} for "
                                  f"{self.family.name}; training in fp32", "precision")
        yield from self._notes
        self._notes = []
        if dist_rt.broadcast_flag(self.run_dir is None or not self.run_dir.checkpoints()):
            self._snapshot = _cpu_copy(self._state())  # something good to roll back to
        yield from self._sample_events()
        start_step, t0 = self.step, _now()
        self.budget.start()  # training time starts with the first step, as the logged `time` does
        grids = SampleSchedule(s.sample_every, s.sample_seconds)  # steps, and early on the clock too
        grids.reset(self.train_seconds(), self.step)  # the grid above
        step_time = None
        last_ckpt = self.step
        out_of_time = False
        while self.step < s.steps:
            before_requests = self.step
            self._sync_control(control)
            if control.paused:
                paused_at = _now()
                yield ev.Paused(self.step)
                while control.paused and not control.stop_requested:
                    control.wait_while_paused()
                    self._sync_control(control)
                    yield from self._serve_requests(control)
                t0 += _now() - paused_at  # paused time is not training time
                self.budget.exclude(_now() - paused_at)
                yield ev.Resumed(self.step)
            if control.stop_requested:
                break
            if self.settings.time_limit and dist_rt.broadcast_flag(self.budget.out_of_time()):  # rank 0's clock
                out_of_time = True
                break
            for e in self._serve_requests(control):
                if isinstance(e, ev.CheckpointSaved):
                    last_ckpt = self.step
                yield e
            if self.step != before_requests:  # rolled back: time from here
                start_step, t0, last_ckpt = self.step, _now(), self.step

            try:
                self._phase = "training"
                t_step = time.perf_counter()
                with self.engine.autocast():
                    losses = self.engine.train_step(self._batch(self.step), self.step,
                                                    self.budget.planned_steps(self.step))
                bad = [k for k, v in losses.items() if not math.isfinite(float(v))]
                if dist_rt.any_true(bool(bad)):  # one process's bad loss rolls every process back
                    where = f"loss {', '.join(bad)}" if bad else "a loss on another process"
                    raise NonFiniteError(f"{where} became non-finite at step {self.step + 1}")
                self.step += 1
                if self.world > 1 and self.step == 1:  # data-dependent initialisation (Glow's ActNorm)
                    process_state.broadcast_replicated_parameters(self.engine)  # rank 0's weights; buffers averaged below
                if self.world > 1:  # replicated buffers agreed every step; checked every N in a debug setting
                    process_state.sync_buffers(self.engine)
                    if process_state.check_every() and self.step % process_state.check_every() == 0:
                        process_state.check_replicated(self.engine)
                for k, v in losses.items():
                    self._acc[k] = self._acc.get(k, 0.0) + float(v)
                self._acc_n += 1
                measure = self._train_measure(losses)
                if measure is not None:
                    self._train_sum += float(losses[measure])
                    self._train_n += 1
                    self._measure_name = measure
                dt = time.perf_counter() - t_step
                step_time = dt if step_time is None else 0.9 * step_time + 0.1 * dt
                if tuner is not None and (said := tuner.step_done(dt)):
                    yield ev.Note(self.step, said, "threads")

                new_best = False
                if s.validate_every and self.step % s.validate_every == 0 and self.val_data is not None:
                    values = self._validate()
                    if values:
                        self._pending_metrics.update(values)
                        new_best = self._is_new_best(values)
                        yield ev.Metrics(self.step, values)
                        warning = self._watch_overfitting(values, new_best)
                        if warning is not None:
                            yield warning
                    new_best = dist_rt.broadcast_flag(new_best)  # rank 0's measure decides for all

                if s.monitor_every and self.step % s.monitor_every == 0:
                    self._phase = "monitor"
                    values, findings = self.engine.monitor(self.step)
                    if values:
                        self._pending_metrics.update(values)
                        yield ev.Metrics(self.step, dict(values))
                    for f in findings:
                        if f.rollback:
                            self._rollback_finding_step = self.step
                        yield ev.TrainWarning(self.step, f.message, f.kind, f.rollback)

                if self.step % s.log_every == 0 or self.step == s.steps:
                    mean = {k: v / self._acc_n for k, v in self._acc.items()}
                    if self.world > 1:  # the mean over every process's losses
                        mean = dict(zip(sorted(mean), dist_rt.mean_values([mean[k] for k in sorted(mean)])))
                    elapsed = _now() - t0
                    per_step = elapsed / max(1, self.step - start_step)
                    row = {"step": self.step, "losses": mean, "time": round(elapsed, 3),
                           "train_seconds": round(self.train_seconds(), 3)}
                    if self._pending_metrics:
                        row["metrics"] = dict(self._pending_metrics)
                    if self.run_dir is not None:
                        self.run_dir.append_metrics(row)
                    self._acc, self._acc_n, self._pending_metrics = {}, 0, {}
                    eta = self.budget.eta(self.step, per_step)  # whichever limit comes first
                    yield ev.Progress(self.step, s.steps, mean, s.batch_size / max(step_time, 1e-9), elapsed, eta)

                if dist_rt.broadcast_flag(grids.due(self.step, self.train_seconds(), self._last_sampling_s)):
                    yield from self._sample_events(keep_rng=not grids.by_steps(self.step))
                    grids.drawn(self.step, self.train_seconds())
                if (s.checkpoint_every and self.step % s.checkpoint_every == 0) or new_best:
                    self._phase = "checkpoint"
                    path = self.save(best=new_best)
                    last_ckpt = self.step
                    if path is not None:
                        yield ev.CheckpointSaved(self.step, str(path))
            except FloatingPointError as exc:  # NonFiniteError from the loss, optimizer_step or save
                yield self._diverged(str(exc))
                start_step, t0, last_ckpt, step_time = self.step, _now(), self.step, None

        self._phase = "checkpoint"
        if self.persist and dist_rt.broadcast_flag(
                self.step != last_ckpt or (self.run_dir is not None and not self.run_dir.checkpoints())):
            try:
                yield ev.CheckpointSaved(self.step, str(self.save()))
            except FloatingPointError as exc:  # never end a run on a garbage checkpoint
                raise Diverged(f"{exc}; the last good checkpoint was kept") from None
        if grids.last_step != self.step:
            yield from self._sample_events()
        reason = "completed" if self.step >= s.steps else ("time budget" if out_of_time else "stopped")
        self._set_status("stopped" if reason == "stopped" else "finished")
        yield ev.Finished(self.step, reason)
