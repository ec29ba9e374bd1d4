"""Loading image folders in the background (the one background Worker), with progress and cancel."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engines.data import DataError, load_images

from .background import Worker


def load_dataset(sources: list[str], size: int, channels: int | None, report=None, cancelled=None, **options):
    """load_images with one progress report per percent, not per file (tens of thousands of queued
    events help nobody); runs on a Worker."""
    last = [-1]

    def progress(done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        if percent != last[0] or done == total:
            last[0] = percent
            report((done, total))

    dataset = load_images(sources, size=size, channels=channels, progress=progress, cancelled=cancelled, **options)
    if cancelled():
        raise DataError("loading was cancelled")
    return dataset


class DatasetLoader(QObject):
    """Starts loads; a new load cancels the previous one, whose late results are ignored."""

    started = Signal(list)             # sources
    progress = Signal(int, int)
    loaded = Signal(object)
    failed = Signal(str, str)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._current: Worker | None = None
        self._running: set[Worker] = set()    # workers whose thread has not ended (a cancelled one may still read)

    @property
    def busy(self) -> bool:
        return self._current is not None

    def load(self, sources: list[str], size: int, channels: int | None, **options) -> None:
        self.cancel()
        worker = Worker(load_dataset, list(sources), size, channels, expected=(DataError,), **options)
        worker.yielded.connect(lambda done_total, w=worker: w is self._current and self.progress.emit(*done_total))
        worker.returned.connect(lambda dataset, w=worker: self._on_loaded(w, dataset))
        worker.errored.connect(lambda message, details, w=worker: self._on_failed(w, message, details))
        worker.finished.connect(lambda w=worker: self._reap(w))
        self._current = worker
        self._running.add(worker)
        self.started.emit(list(sources))
        self.busy_changed.emit(True)
        worker.start()

    def cancel(self) -> None:
        if self._current is not None:
            self._current.cancel()
            self._current = None
            self.busy_changed.emit(False)

    def _on_loaded(self, worker: Worker, dataset) -> None:
        if worker is self._current:
            self._current = None
            self.busy_changed.emit(False)
            self.loaded.emit(dataset)

    def _on_failed(self, worker: Worker, message: str, details: str) -> None:
        if worker is self._current:
            self._current = None
            self.busy_changed.emit(False)
            if details:   # not a DataError: say what went wrong, as before
                message = f"could not load images: {message}"
            self.failed.emit(message, details)

    def _reap(self, worker: Worker) -> None:
        self._running.discard(worker)
        worker.deleteLater()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self.cancel()
        for worker in list(self._running):
            worker.cancel()
            worker.wait(timeout_ms)
