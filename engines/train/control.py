"""Control: thread-safe requests from the person (stop, pause, save now, roll back), polled by the
loop between steps; `agree` (several processes: rank 0's requests, the same step everywhere) and
`serve_requests` (the loop's answer to save-now and roll-back)."""

from __future__ import annotations

import threading
from typing import Iterator

from . import events as ev
from .checkpoint import CheckpointError


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


def agree(copy: Control, person: Control, group) -> None:
    """Several processes: rank 0 reads the person's stop/pause/save-now/roll-back requests once and
    every process (rank 0 too) applies what the group agreed to its own `copy`, so a request arriving
    between the agreement and the loop's next look waits a step instead of reaching rank 0 alone."""
    save, (wanted, before), stop, paused = False, (False, None), False, False
    if group.is_main:
        save, (wanted, before) = person.take_save_request(), person.take_rollback_request()
        stop, paused = person.stop_requested, person.paused
    stop, paused, save, wanted, before = group.main_values(
        [float(stop), float(paused), float(save), float(wanted), -1.0 if before is None else float(before)])
    if stop:
        copy.request_stop()
    elif paused and not copy.paused:
        copy.pause()
    elif not paused and copy.paused:
        copy.resume()
    if save:
        copy.request_save()
    if wanted:
        copy.request_rollback(None if before < 0 else int(before))


def serve_requests(t, control: Control) -> Iterator[ev.Event]:
    """The trainer `t` serves save-now and rollback requests (also while paused)."""
    if control.take_save_request():
        try:
            path = t.save()
        except FloatingPointError as exc:  # refuse to save garbage: roll back instead
            yield t._diverged(str(exc))
            path = None
        if path is not None:
            yield ev.CheckpointSaved(t.step, str(path))
    wanted, before = control.take_rollback_request()
    if wanted:
        try:
            yield t.rollback(f"roll back requested at step {t.step}", t.safety.rollback_target(before), automatic=False)
        except CheckpointError as exc:
            yield ev.TrainWarning(t.step, f"cannot roll back: {exc}", "rollback", False)
