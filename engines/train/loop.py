"""The one training loop every family runs under, as a generator of plain events.

    trainer = Trainer.from_plan(plan)          # engines/train/plan.py; or Trainer.new / Trainer.resume
    for event in trainer.run(control):         # Control: stop, pause, save now, roll back (thread-safe)
        ...

The studio's worker forwards the events as Qt signals; the command line prints them. Each role
lives in its own module and the loop below reads top to bottom:
    batches.py    the data order, each process's shard, extra image sets, the held-out split
    budget.py     steps and training time; the planned length the family's schedules get
    group.py      the processes training together (one process: a group of one)
    safety.py     non-finite values: rollback to the last good state, or fail
    watch.py      the best held-out value, overfitting, small data
    samples.py    sample grids;  run_state.py  what a checkpoint holds;  start.py  new and resumed runs
    failures.py   how a failed run says so;  events.py  the events themselves

Several processes (torch.distributed initialised, by `genstudio train --nproc-per-node N`, torchrun
or a test): the same Trainer runs in each. settings.batch_size is the global batch, split into one
shard per rank of the same seeded order; gradients are averaged at the one seam; weights start from
rank 0's; rank 0 alone writes the run folder and hears the person (its requests reach every process
at the same step); losses are logged as the mean over ranks; decisions (non-finite values, a new
best, the time budget, rollbacks) are the group's; a failing rank stops the others at once.
"""

from __future__ import annotations

import math
import time
import traceback
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .. import registry
from ..data import ImageDataset
from ..families.base import Batch, DataSpec, Engine, NonFiniteError, RunContext
from ..runtime.thread_tuner import tuner_for
from ..runtime.threads import apply_threads
from . import events as ev
from . import control as control_requests
from . import run_state, safety, samples, start, tensorboard, watch
from .batches import BatchSource
from .budget import Budget
from .control import Control, agree
from .device import resolve_device, resolve_precision  # noqa: F401 - the loop's public names
from .failures import failure_event, process_failure_event
from .group import process_group
from .inputs import engine_inputs
from .plan import RunPlan, check_batch_split
from .run import RunDir, RunError
from .safety import Diverged, Safety, cpu_copy
from .sample_schedule import SampleSchedule
from .samples import fixed_labels, make_samples
from .settings import DEVICES, NAN_POLICIES, PRECISIONS, TrainSettings  # noqa: F401
from .start import load_plan_data  # noqa: F401
from .watch import SMALL_DATA, Watches, data_notes  # noqa: F401


def _now() -> float:
    """The loop's clock (training time, ETA, the time budget); tests replace it."""
    return time.perf_counter()


def engine_overrides_validate(engine: Engine) -> bool:
    return type(engine).validate is not Engine.validate


class Trainer:
    """Owns one run: the engine, its batches, budget, safety and watches, and the run folder."""

    def __init__(self, family: registry.Family, config, settings: TrainSettings, dataset: ImageDataset,
                 run: RunDir | None, device: torch.device, inputs: dict[str, object] | None = None):
        self.family, self.config, self.settings = family, config, settings
        self.group = group = process_group()
        self.world, self.rank, self.is_main = group.world, group.rank, group.is_main
        check_batch_split(settings.batch_size, group.world)
        if group.world > 1 and device.type == "cuda":
            device = torch.device("cuda", torch.cuda.current_device())  # cuda:LOCAL_RANK
        elif group.world > 1 and device.type != "cpu":
            raise RunError(f"training on several processes works on CPUs and CUDA GPUs, not {device.type}")
        self.run_dir = run if group.is_main else None   # rank 0 alone writes the run folder
        self.persist = group.main_says(run is not None)
        self.device = device
        self.spec = DataSpec(dataset.size, dataset.channels, dataset.num_classes, tuple(dataset.class_names))
        # the weights are made with the thread count the run trains with: some initialisations (spectral
        # norm's power iterations) round differently on another count, and a run must repeat exactly
        if group.world == 1 or settings.threads > 0:
            apply_threads(settings.threads)
        torch.manual_seed(settings.seed)
        np.random.seed(settings.seed % 2**32)
        # the family's other inputs: ImageDataset (image sets), uint8 arrays (images), Engines (runs)
        self.input_values = dict(inputs or {})
        self.engine: Engine = family.engine_class(config, self.spec, device,
                                                  inputs=engine_inputs(family.engine_class, self.input_values))
        self.batch_norm = group.join_engine(self.engine, device, settings.seed)
        self.precision = resolve_precision(settings.precision, device, self.engine)
        self.channels_last = bool(settings.channels_last and device.type == "cuda")
        if self.channels_last:
            for m in self.engine.modules().values():
                m.to(memory_format=torch.channels_last)  # in place: optimisers keep their parameters
        extra = {i.name: (stream, self.input_values[i.name])  # each image set: its own order (stream)
                 for stream, i in enumerate(family.engine_class.inputs[1:], start=1)
                 if isinstance(self.input_values.get(i.name), ImageDataset)}
        self.batches = BatchSource(
            dataset, extra, batch_size=settings.batch_size, seed=settings.seed, flip=settings.flip,
            val_fraction=settings.val_fraction, rank=group.rank, world=group.world, device=device,
            validates=engine_overrides_validate(self.engine) and settings.val_fraction > 0,
            channels_last=self.channels_last)
        self.local_batch = self.batches.local_batch
        self.engine.begin_training(RunContext(  # what the family gets from the run, once
            grad_clip=float(settings.grad_clip), precision=self.precision,
            gradient_reducer=group.gradient_reducer(self.engine),
            preview_batch=self.batches.preview_batch(settings.n_samples)))  # the same real images in every grid
        self.budget = Budget(settings.steps, settings.time_limit, clock=lambda: _now())
        self.safety = Safety(settings.nan_policy, settings.lr_backoff, settings.max_rollbacks)
        self.watches = Watches(self.engine, settings.overfit_patience)
        self.step, self.acc, self.acc_n, self.pending_metrics = 0, {}, 0, {}
        self.sample_labels = fixed_labels(self.spec, self.engine, settings.n_samples)
        self.notes: list[ev.TrainWarning] = []   # said once the run starts (resuming on another world size)
        self.start_warnings: list[str] = []      # said when training starts (a damaged checkpoint skipped)
        self.phase, self.new_best = "starting", False
        self._last_sampling_s: float | None = None

    # --- construction (engines/train/start.py) ----------------------------------------------------
    @classmethod
    def from_plan(cls, plan: RunPlan, dataset: ImageDataset | None = None,
                  inputs: dict[str, object] | None = None) -> "Trainer":
        return start.from_plan(cls, plan, dataset, inputs)

    @classmethod
    def new(cls, family_name: str, config, settings: TrainSettings, dataset: ImageDataset,
            out_dir: str | Path | None, data_record: dict | None = None, inputs: dict[str, object] | None = None,
            input_paths: dict[str, list[str]] | None = None) -> "Trainer":
        return start.new(cls, family_name, config, settings, dataset, out_dir, data_record, inputs, input_paths)

    @classmethod
    def resume(cls, run_path: str | Path, dataset: ImageDataset, steps: int | None = None,
               device: str | None = None, family: str | None = None, time_limit: float | None = None,
               inputs: dict[str, object] | None = None) -> "Trainer":
        """Continue a run from its newest intact checkpoint (exactly, on the same device)."""
        return start.resume(cls, run_path, dataset, steps, device, family, time_limit, inputs)

    record_device = run_state.record_device
    distributed_record = run_state.distributed_record

    # --- what the loop reads ------------------------------------------------------------------------
    train_data = property(lambda self: self.batches.train_data)
    val_data = property(lambda self: self.batches.val_data)

    def _batch(self, step: int) -> Batch:
        return self.batches.batch(step)

    def shard_indices(self, step: int, n: int | None = None, stream: int = 0) -> np.ndarray:
        return self.batches.shard_indices(step, n, stream)

    def val_batches(self, batch_size: int = 256) -> Iterator[Batch]:
        return self.batches.val_batches(batch_size)

    def train_seconds(self) -> float:
        """Training time over all sessions of the run so far, paused time not counted."""
        return self.budget.train_seconds()

    # --- state: checkpoints (run_state.py) and rollback (safety.py) ----------------------------------
    save = run_state.save
    load = run_state.load
    read_checkpoint = run_state.read_checkpoint
    apply_state = run_state.apply_state
    rollback = safety.rollback
    _diverged = safety.diverged

    # --- samples and validation ----------------------------------------------------------------------
    def make_samples(self) -> ev.Samples:
        self.phase = "sampling"
        return make_samples(self.engine, self.spec, self.settings.n_samples, self.settings.seed,
                            self.sample_labels, self.run_dir, self.step)

    _sample_events = samples.sample_events

    _validate = watch.validate
    _monitor = watch.monitor

    def set_status(self, status: str) -> None:
        if self.run_dir is not None:
            self.run_dir.set_status(status, self.step)

    def set_status_quietly(self, status: str) -> None:
        try:
            self.set_status(status)
        except Exception:  # noqa: BLE001 - the original failure matters more
            pass

    # --- the loop ----------------------------------------------------------------------------------
    def run(self, control: Control | None = None) -> Iterator[ev.Event]:
        """Train to settings.steps, yielding events. Never raises: failures become a Failed event."""
        self._requests = control or Control()  # what the person asks (rank 0's)
        # every process acts on an agreed copy of rank 0's requests, at the same step (_agree_requests)
        control = self._requests if self.world == 1 else Control()
        try:
            yield from self._run(control, self.settings)
        except Diverged as exc:  # every process diverges at the same step: they agree on losses
            self.set_status_quietly("failed")
            yield ev.Failed(self.step, str(exc), traceback.format_exc(), kind="diverged")
        except Exception as exc:  # noqa: BLE001 - the loop reports, the caller decides
            yield process_failure_event(self, exc) if self.world > 1 else failure_event(self, exc)
        finally:
            if self.run_dir is not None:
                self.run_dir.close_tensorboard()

    def _run(self, control: Control, s: TrainSettings) -> Iterator[ev.Event]:
        self.set_status("running")
        # on the thread that trains; several processes on one machine keep their share of the cores
        threads = apply_threads(s.threads) if self.world == 1 or s.threads > 0 else torch.get_num_threads()
        tuner = tuner_for(s.threads, threads, self.device.type, self.world)  # automatic threads that measure
        threads = tuner.current if tuner is not None else threads  # the count the first steps use
        yield ev.Started(str(self.run_dir.path) if self.run_dir else None, self.family.name, self.step,
                         s.steps, str(self.device), self.engine.parameter_count(), float(s.time_limit),
                         self.train_seconds(), self.world, self.local_batch, s.batch_size, threads)
        if tuner is not None and (said := tuner.opening()):
            yield ev.Note(self.step, said, "threads")
        if self.run_dir is not None:
            yield from tensorboard.open_for_run(self.run_dir, self.family.name, self.config, self.settings, self.step)
        for warning in self.start_warnings:
            yield ev.TrainWarning(self.step, warning, "damaged-checkpoint")
        if self.step == 0:
            n = len(self.train_data) + (len(self.val_data) if self.val_data is not None else 0)
            yield from data_notes(n, self.config, self.engine)
        if s.precision == "bf16" and self.precision != "bf16":
            yield ev.TrainWarning(self.step, f"bf16 is not available on {self.device.type} for "
                                  f"{self.family.name}; training in fp32", "precision")
        yield from self.notes
        self.notes = []
        if self.group.main_says(self.run_dir is None or not self.run_dir.checkpoints()):
            self.safety.snapshot = cpu_copy(run_state.checkpoint_state(self))  # something good to roll back to
        yield from self._sample_events()
        start_step, t0, step_time, last_ckpt, out_of_time = self.step, _now(), None, self.step, False
        self.budget.start()  # training time starts with the first step, as the logged `time` does
        grids = SampleSchedule(s.sample_every, s.sample_seconds)  # steps, and early on the clock too
        grids.reset(self.train_seconds(), self.step)  # the grid above
        while self.step < s.steps:
            before_requests = self.step
            self._agree_requests(control)
            if control.paused:
                paused_at = _now()
                yield ev.Paused(self.step)
                while control.paused and not control.stop_requested:
                    control.wait_while_paused()
                    self._agree_requests(control)
                    yield from self._serve_requests(control)
                t0 += _now() - paused_at  # paused time is not training time
                self.budget.exclude(_now() - paused_at)
                yield ev.Resumed(self.step)
            if control.stop_requested:
                break
            if s.time_limit and self.group.main_says(self.budget.out_of_time()):  # rank 0's clock
                out_of_time = True
                break
            for e in self._serve_requests(control):
                last_ckpt = self.step if isinstance(e, ev.CheckpointSaved) else last_ckpt
                yield e
            if self.step != before_requests:  # rolled back: time from here
                start_step, t0, last_ckpt = self.step, _now(), self.step

            try:
                self.phase = "training"
                t_step = time.perf_counter()
                with self.engine.autocast():
                    losses = self.engine.train_step(self._batch(self.step), self.step,
                                                    self.budget.planned_steps(self.step))
                bad = [k for k, v in losses.items() if not math.isfinite(float(v))]
                if self.group.agree_any(bool(bad)):  # one process's bad loss rolls every process back
                    where = f"loss {', '.join(bad)}" if bad else "a loss on another process"
                    raise NonFiniteError(f"{where} became non-finite at step {self.step + 1}")
                self.step += 1
                self.group.after_step(self.engine, self.step)  # several processes: replicated state agreed
                for k, v in losses.items():
                    self.acc[k] = self.acc.get(k, 0.0) + float(v)
                self.acc_n += 1
                self.watches.note_losses(losses)
                dt = time.perf_counter() - t_step
                step_time = dt if step_time is None else 0.9 * step_time + 0.1 * dt
                if tuner is not None and (said := tuner.step_done(dt)):
                    yield ev.Note(self.step, said, "threads")

                self.new_best = False
                if s.validate_every and self.step % s.validate_every == 0 and self.val_data is not None:
                    yield from self._validate()
                if s.monitor_every and self.step % s.monitor_every == 0:
                    yield from self._monitor()
                if self.step % s.log_every == 0 or self.step == s.steps:
                    mean = self.group.mean_dict({k: v / self.acc_n for k, v in self.acc.items()})
                    elapsed = _now() - t0
                    row = {"step": self.step, "losses": mean, "time": round(elapsed, 3),
                           "train_seconds": round(self.train_seconds(), 3)}
                    if self.pending_metrics:
                        row["metrics"] = dict(self.pending_metrics)
                    if self.run_dir is not None:
                        self.run_dir.append_metrics(row)
                    self.acc, self.acc_n, self.pending_metrics = {}, 0, {}
                    eta = self.budget.eta(self.step, elapsed / max(1, self.step - start_step))
                    yield ev.Progress(self.step, s.steps, mean, s.batch_size / max(step_time, 1e-9), elapsed, eta)
                if self.group.main_says(grids.due(self.step, self.train_seconds(), self._last_sampling_s)):
                    yield from self._sample_events(keep_rng=not grids.by_steps(self.step))
                    grids.drawn(self.step, self.train_seconds())
                if (s.checkpoint_every and self.step % s.checkpoint_every == 0) or self.new_best:
                    self.phase = "checkpoint"
                    path = self.save(best=self.new_best)
                    last_ckpt = self.step
                    if path is not None:
                        yield ev.CheckpointSaved(self.step, str(path))
            except FloatingPointError as exc:  # NonFiniteError from the loss, optimizer_step or save
                yield self._diverged(str(exc))
                start_step, t0, last_ckpt, step_time = self.step, _now(), self.step, None

        self.phase = "checkpoint"
        if self.persist and self.group.main_says(
                self.step != last_ckpt or (self.run_dir is not None and not self.run_dir.checkpoints())):
            try:
                yield ev.CheckpointSaved(self.step, str(self.save()))
            except FloatingPointError as exc:  # never end a run on a garbage checkpoint
                raise Diverged(f"{exc}; the last good checkpoint was kept") from None
        if grids.last_step != self.step:
            yield from self._sample_events()
        reason = "completed" if self.step >= s.steps else ("time budget" if out_of_time else "stopped")
        self.set_status("stopped" if reason == "stopped" else "finished")
        yield ev.Finished(self.step, reason)

    # --- requests from the person (control.py) -------------------------------------------------------
    _serve_requests = control_requests.serve_requests

    def _agree_requests(self, control: Control) -> None:
        if control is not self._requests:  # several processes: act on the group's copy of rank 0's
            agree(control, self._requests, self.group)
