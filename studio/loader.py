"""Loading image folders in a background thread, with progress and cancel."""

from __future__ import annotations

import threading
import traceback

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from engines.data import DataError, load_images


class LoadWorker(QObject):
    # every signal carries the load's ticket, so the loader can ignore loads it has given up on
    progress = Signal(int, int, int)   # ticket, done, total
    loaded = Signal(int, object)       # ticket, ImageDataset
    failed = Signal(int, str, str)     # ticket, message for a person, details (traceback or "")
    done = Signal()

    def __init__(self, ticket: int, sources: list[str], size: int, channels: int | None, **options):
        super().__init__()
        self.ticket = ticket
        self.sources, self.size, self.channels = sources, size, channels
        self.options = options             # more load_images keywords: fit, background
        self.cancel_event = threading.Event()
        self._last_percent = -1

    def _progress(self, done: int, total: int) -> None:
        # one signal per percent, not per file: tens of thousands of queued events help nobody
        percent = done * 100 // max(total, 1)
        if percent != self._last_percent or done == total:
            self._last_percent = percent
            self.progress.emit(self.ticket, done, total)

    @Slot()
    def run(self) -> None:
        try:
            dataset = load_images(self.sources, size=self.size, channels=self.channels,
                                  progress=self._progress, cancelled=self.cancel_event.is_set, **self.options)
            if self.cancel_event.is_set():
                self.failed.emit(self.ticket, "loading was cancelled", "")
            else:
                self.loaded.emit(self.ticket, dataset)
        except DataError as exc:
            self.failed.emit(self.ticket, str(exc), "")
        except Exception as exc:  # noqa: BLE001 - shown to the person, the app goes on
            self.failed.emit(self.ticket, f"could not load images: {type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            self.done.emit()


class DatasetLoader(QObject):
    """Starts loads; a new load cancels the previous one, whose late results are ignored."""

    started = Signal(list)             # sources
    progress = Signal(int, int)
    loaded = Signal(object)
    failed = Signal(str, str)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._ticket = 0
        self._current: LoadWorker | None = None
        self._running: dict[int, tuple[QThread, LoadWorker]] = {}

    @property
    def busy(self) -> bool:
        return self._current is not None

    def load(self, sources: list[str], size: int, channels: int | None, **options) -> None:
        self.cancel()
        self._ticket += 1
        thread, worker = QThread(), LoadWorker(self._ticket, list(sources), size, channels, **options)
        thread.setObjectName("genstudio-loader")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)  # see worker.py
        worker.progress.connect(self._on_progress)
        worker.loaded.connect(self._on_loaded)
        worker.failed.connect(self._on_failed)
        thread.finished.connect(self._reap)
        self._current = worker
        self._running[self._ticket] = (thread, worker)
        self.started.emit(list(sources))
        self.busy_changed.emit(True)
        thread.start()

    def cancel(self) -> None:
        if self._current is not None:
            self._current.cancel_event.set()
            self._current = None
            self.busy_changed.emit(False)

    def _is_current(self, ticket: int) -> bool:
        return self._current is not None and self._current.ticket == ticket

    @Slot(int, int, int)
    def _on_progress(self, ticket: int, done: int, total: int) -> None:
        if self._is_current(ticket):
            self.progress.emit(done, total)

    @Slot(int, object)
    def _on_loaded(self, ticket: int, dataset) -> None:
        if self._is_current(ticket):
            self._current = None
            self.busy_changed.emit(False)
            self.loaded.emit(dataset)

    @Slot(int, str, str)
    def _on_failed(self, ticket: int, message: str, details: str) -> None:
        if self._is_current(ticket):
            self._current = None
            self.busy_changed.emit(False)
            self.failed.emit(message, details)

    @Slot()
    def _reap(self) -> None:
        for ticket, (thread, worker) in list(self._running.items()):
            if thread.isFinished():
                del self._running[ticket]
                worker.deleteLater()
                thread.deleteLater()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self.cancel()
        for thread, worker in list(self._running.values()):
            worker.cancel_event.set()
            thread.wait(timeout_ms)
