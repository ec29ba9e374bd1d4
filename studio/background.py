"""One way to run work off the GUI thread: a plain function or generator on a QThread.

    worker = Worker(fn, *args, **kwargs)     # fn may be a generator: each `yield` becomes `yielded`
    worker.yielded.connect(...); worker.returned.connect(...); worker.errored.connect(...)
    worker.start()                           # worker.cancel() asks it to stop at its next yield

The function never touches widgets; what it yields and returns crosses to the GUI thread as plain
objects, and the worker emits its public signals there (the thread posts each to the worker, a QObject
of the GUI thread): every slot connected to a Worker runs as a direct call on the GUI thread, so no
queued call can reach a slot that was disconnected, or whose plain-Python owner was freed, meanwhile
(PySide6 delivers such calls, and the freed receiver crashes the process); `post_to_gui` is that one
way for any thread (the model hosts and thumbnail readers use it too). Every failure goes through
`person_message`, so every panel words
errors the same way: a person's mistake (engines' PERSON_ERRORS, a file that cannot be read) is its
one-line message, anything else "TypeName: message" with the traceback as details. A function that
takes a `cancelled` keyword gets a callable saying whether Stop was pressed (for loops between yields),
one that takes a `report` keyword a callable whose values arrive as `yielded` (for a callback API);
`engines.families.base.Cancelled` raised inside ends the work as cancelled, not failed.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import traceback
from typing import Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from engines.errors import PERSON_ERRORS
from engines.families.base import Cancelled


class _Poster(QObject):
    """Lives on the GUI thread; a call posted from any thread runs there (see post_to_gui)."""

    _posted = Signal(object, object, object)   # receiver, callable, args

    def __init__(self):
        super().__init__()
        self._posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(object, object, object)
    def _deliver(self, receiver: QObject, fn: Callable, args: tuple) -> None:
        if shiboken6.isValid(receiver):   # checked where it is deleted: on the GUI thread, no race
            fn(*args)


_poster: _Poster | None = None


def gui_poster() -> _Poster:
    """The process's one poster: made on first use, which must be on the GUI thread (a Worker, a model
    host or a panel being built), or moved there."""
    global _poster
    if _poster is None:
        _poster = _Poster()
        app = QCoreApplication.instance()
        if app is not None and app.thread() is not QThread.currentThread():
            _poster.moveToThread(app.thread())
    return _poster


def post_to_gui(receiver: QObject, fn: Callable, *args) -> None:
    """Run `fn(*args)` on the GUI thread, unless `receiver` (a QObject of the GUI thread: the object
    `fn` belongs to) has been deleted by then. From any thread. The only queued call is to the poster,
    which never goes: no queued call ever reaches a slot that was disconnected or whose plain-Python
    owner was freed meanwhile (PySide6 delivers those, and a freed receiver crashes the process).
    `fn` then emits its object's signals, or updates it, as a direct call on the GUI thread."""
    gui_poster()._posted.emit(receiver, fn, args)


# How much lower than the GUI thread a background thread runs (Linux nice steps: each is ~1.25x less CPU
# share when both want a core). Only matters when they compete: an idle core still goes to the work.
BACKGROUND_NICE = 5


def yield_to_gui() -> None:
    """Lower the calling thread's scheduling priority below the GUI thread's, for work done off it.

    Training and model jobs keep every core busy; when the GUI thread wakes (a repaint, a click) it then
    waits for a core behind them, and the window stutters on a loaded machine. With the background thread
    a few nice steps lower the scheduler hands the GUI thread a core first. Threads the work starts later
    (torch's intra-op pool, data workers) inherit it. Linux sets a nice value per thread; elsewhere Qt's
    thread priority does the same. Raising one's own nice needs no privileges; failures change nothing."""
    if threading.current_thread() is threading.main_thread():
        return   # never the GUI thread itself
    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE))
        except (OSError, AttributeError):
            pass
        return
    QThread.currentThread().setPriority(QThread.Priority.LowPriority)


def yield_process_to_gui(pid: int) -> None:
    """The same for a child process the studio started (multi-process training): lowered right after it
    starts, before it has threads or processes of its own, which inherit it. Failures change nothing."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + BACKGROUND_NICE))
    except (OSError, AttributeError):   # gone already, or a platform without setpriority
        pass


def person_message(exc: BaseException, expected: tuple[type[BaseException], ...] = ()) -> tuple[str, str]:
    """(one line for a person, details) for an exception raised by background work."""
    if isinstance(exc, MemoryError):
        return "Not enough memory for this; choose a smaller size or fewer images.", ""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}", ""
    if isinstance(exc, (*PERSON_ERRORS, *expected)):
        return str(exc).strip().strip("'\"").splitlines()[0] if str(exc).strip() else type(exc).__name__, ""
    return f"{type(exc).__name__}: {exc}".splitlines()[0], "".join(traceback.format_exception(exc))


class Worker(QThread):
    """Runs `fn(*args, **kwargs)` on its own thread (see the module docstring)."""

    yielded = Signal(object)        # each value a generator yields
    returned = Signal(object)       # the return value (a generator's too)
    errored = Signal(str, str)      # person_message of the exception
    cancelled = Signal()            # stopped on request
    done = Signal()                 # after any of returned, errored, cancelled

    def __init__(self, fn: Callable, *args, expected: tuple[type[BaseException], ...] = (), parent=None, **kwargs):
        super().__init__(parent)
        gui_poster()   # made here, on the GUI thread, before the thread posts to it
        self.setObjectName(f"genstudio-{getattr(fn, '__name__', 'work')}")
        self.fn, self.args, self.kwargs, self.expected = fn, args, kwargs, expected
        self._stop = threading.Event()
        try:
            parameters = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            parameters = {}
        if "cancelled" in parameters:
            self.kwargs.setdefault("cancelled", self._stop.is_set)
        if "report" in parameters:   # a function with a progress callback: what it reports is `yielded`
            self.kwargs.setdefault("report", lambda value: self._send("yielded", value))

    def _send(self, name: str, *args) -> None:
        post_to_gui(self, self._emit, name, args)

    def _emit(self, name: str, args: tuple) -> None:
        getattr(self, name).emit(*args)

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:  # the thread
        yield_to_gui()
        try:
            result = self.fn(*self.args, **self.kwargs)
            if inspect.isgenerator(result):
                gen, result = result, None
                while True:
                    if self._stop.is_set():
                        gen.close()
                        raise Cancelled()
                    try:
                        value = next(gen)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    self._send("yielded", value)
            self._send("returned", result)   # a function that stopped early by itself returns what it has
        except Cancelled:
            self._send("cancelled")
        except Exception as exc:  # noqa: BLE001 - every failure is a message, never a crash
            self._send("errored", *person_message(exc, self.expected))
        finally:
            self._send("done")
