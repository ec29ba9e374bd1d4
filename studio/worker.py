"""Training in a background QThread: the engine's event generator, forwarded as Qt signals.

The worker never touches widgets; panels subscribe to the signals (delivered queued, in the GUI
thread). Nothing is throttled here: panels coalesce redraws with their own timers.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from engines.data import ImageDataset
from engines.errors import PERSON_ERRORS
from engines.train import events as ev
from engines.train.loop import Control, Trainer
from engines.train.plan import RunPlan, check_plan

from .background import yield_to_gui


@dataclass(frozen=True)
class RunRequest:
    """A run for the studio to start: its plan (engines/train/plan.py, the same the CLI builds) and the
    main image set the studio has loaded already."""
    plan: RunPlan
    dataset: ImageDataset | None = None

    @property
    def family(self) -> str:
        return self.plan.family

    @property
    def out_dir(self) -> Path | None:      # None: train without a run folder (nothing written)
        return Path(self.plan.out_dir) if self.plan.out_dir is not None else None

    @property
    def resume(self) -> bool:              # continue the run in out_dir from its latest checkpoint
        return self.plan.resume


class TrainWorker(QObject):
    """Runs `Trainer.run(control)` and emits one signal per event kind."""

    # every engine event (engines.train.events), unchanged: StudioState is the one place that routes them
    event = Signal(object)
    done = Signal()                # after finished or failed: the thread may end

    def __init__(self, request: RunRequest, control: Control):
        super().__init__()
        self.request = request
        self.control = control

    @Slot()
    def run(self) -> None:
        yield_to_gui()   # training keeps its cores busy: the window gets one first when it needs one
        try:
            trainer = self._make_trainer()
        except PERSON_ERRORS as exc:
            self.event.emit(ev.Failed(0, str(exc), ""))
            self.done.emit()
            return
        except Exception as exc:  # noqa: BLE001 - a bug while building the engine is still a message
            self.event.emit(ev.Failed(0, f"{type(exc).__name__}: {exc}".splitlines()[0],
                                       traceback.format_exc()))
            self.done.emit()
            return
        try:
            for event in trainer.run(self.control):
                self.event.emit(event)
        except Exception as exc:  # noqa: BLE001 - run() reports its own failures; this is belt and braces
            self.event.emit(ev.Failed(trainer.step, f"{type(exc).__name__}: {exc}".splitlines()[0],
                                       traceback.format_exc()))
        finally:
            self.done.emit()

    def _make_trainer(self) -> Trainer:
        plan = self.request.plan
        check_plan(plan, processes=1, main_loaded=self.request.dataset is not None)
        return Trainer.from_plan(plan, self.request.dataset)


class TrainingSession(QObject):
    """One run at a time: owns the QThread, the worker and the Control."""

    ended = Signal()  # the thread has finished; a new run may start

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.thread: QThread | None = None
        self.worker: TrainWorker | None = None
        self.control: Control | None = None

    @property
    def active(self) -> bool:
        return self.thread is not None

    def start(self, request: RunRequest) -> TrainWorker:
        if self.active:
            raise RuntimeError("a run is already in progress")
        self.control = Control()
        self.thread = QThread()
        self.thread.setObjectName("genstudio-training")
        self.worker = TrainWorker(request, self.control)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        # Direct: quit() is thread-safe, and a queued call would never run while the GUI thread
        # is blocked in join() waiting for this very thread.
        self.worker.done.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.thread.finished.connect(self._on_thread_finished)
        return self.worker

    def launch(self) -> None:
        assert self.thread is not None
        self.thread.start()

    def _on_thread_finished(self) -> None:
        thread, worker = self.thread, self.worker
        self.thread = self.worker = None
        if worker is not None:
            worker.deleteLater()
        if thread is not None:
            thread.deleteLater()
        self.ended.emit()

    def request_stop(self) -> None:
        if self.control is not None:
            self.control.request_stop()

    def join(self, timeout_ms: int = 60_000) -> bool:
        """Stop cooperatively and wait for the thread (used when the app quits). True if it ended."""
        thread = self.thread
        if thread is None:
            return True
        self.request_stop()
        ok = thread.wait(timeout_ms)
        if ok:
            self._on_thread_finished()
        return ok
