"""What every panel that works with a trained run's model shares (Sampler, Translate, ...): which run it
shows (a RunChooser that follows the run being trained unless pinned), that run's model (a handle on
the one shared copy per checkpoint, studio.model_service), a progress bar, Stop and a status line.

A new explorer panel subclasses ExplorerPanel, sets `job_kinds` (the jobs whose progress and Stop it
shows) and, for jobs of its own, `service_class`; it lays out `self.chooser`, `self.progress`,
`self.stop_button` and `self.status` where it wants them and implements `on_loaded(info)` (and
`on_open_failed()` to disable itself). No service, chooser or progress code of its own.
"""

from __future__ import annotations

from typing import ClassVar

from PySide6.QtWidgets import QPushButton

from ..model_service import ModelService
from ..run_chooser import RunChooser
from .base import Panel, job_progress_bar, status_label


class ExplorerPanel(Panel):
    service_class: ClassVar[type[ModelService]] = ModelService
    job_kinds: ClassVar[tuple[str, ...]] = ()    # the jobs this panel runs (progress, Stop)

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.info: dict | None = None
        self.service = self.service_class(self)
        self.chooser = RunChooser(state, self)
        self.chooser.chosen.connect(self.open_checkpoint)
        self.chooser.note.connect(self.say)
        self.progress = job_progress_bar()
        self.status = status_label()
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        s = self.service
        s.loaded.connect(self._loaded)
        s.failed.connect(self._failed)
        s.cancelled.connect(lambda _kind: self.say("Stopped."))
        s.progress.connect(self._progress)
        s.busy_changed.connect(self._busy)

    # --- for subclasses ------------------------------------------------------------------------------
    def on_loaded(self, info: dict) -> None:
        """The model is open; `info` says what it offers (studio.model_service)."""

    def on_open_failed(self) -> None:
        """The run could not be opened (the status line says why)."""

    def say(self, text: str) -> None:
        self.status.setText(text)

    # --- the run and its model ------------------------------------------------------------------------
    def open_run(self, run_dir, checkpoint=None) -> None:
        """Show a run (its newest checkpoint, or `checkpoint`): through the chooser, as a person would."""
        self.chooser.open_run(run_dir, checkpoint)

    def open_checkpoint(self, run_dir, checkpoint) -> None:
        self.service.open_run(run_dir, checkpoint)

    def stop(self) -> None:
        for kind in self.job_kinds:
            self.service.cancel(kind)

    def _loaded(self, info: dict) -> None:
        self.info = info
        self.chooser.show_loaded(info)
        self.on_loaded(info)

    def _failed(self, kind: str, message: str, details: str) -> None:
        self.say(message)
        if kind == "open":
            self.info = None
            self.chooser.show_failed()
            self.on_open_failed()

    def _progress(self, kind: str, done: int, total: int) -> None:
        if kind in self.job_kinds:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.stop_button.setEnabled(busy)

    def shutdown(self) -> None:
        self.service.shutdown()
