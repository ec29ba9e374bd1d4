"""Control: thread-safe requests from the person (stop, pause, save now, roll back), polled by the
loop between steps."""

from __future__ import annotations

import threading


class Control:
    """Thread-safe requests from the person to the loop; polled between steps."""

    _NO_ROLLBACK = object()

    def __init__(self):
        self._stop = threading.Event()
        self._save = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.Lock()
        self._rollback = Control._NO_ROLLBACK

    def request_rollback(self, before_step: int | None = None) -> None:
        """Roll back to the newest checkpoint at or before `before_step` and lower the learning rate.

        None: before the latest finding that offered a rollback (else the latest checkpoint). Works
        while paused. Replaying unchanged would repeat the same trajectory, so the LR is lowered.
        """
        with self._lock:
            self._rollback = before_step

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

    def take_rollback_request(self):
        """(True, before_step or None) once after request_rollback(), else (False, None)."""
        with self._lock:
            request, self._rollback = self._rollback, Control._NO_ROLLBACK
        return (False, None) if request is Control._NO_ROLLBACK else (True, request)

    def take_save_request(self) -> bool:
        if self._save.is_set():
            self._save.clear()
            return True
        return False

    def wait_while_paused(self, timeout: float = 0.2) -> None:
        self._running.wait(timeout)
