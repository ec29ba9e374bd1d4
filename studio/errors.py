"""A last line of defence: an uncaught exception in a slot shows a message instead of killing the app."""

from __future__ import annotations

import sys
import traceback
from typing import Callable

ShowFn = Callable[[str, str, str], None]   # level, text, details

_previous_hook = None


def report_exception(show: ShowFn, exc_type, exc, tb) -> None:
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write(details)
    first = f"{exc_type.__name__}: {exc}".splitlines()[0] if exc is not None else exc_type.__name__
    try:
        show("error", f"Something went wrong: {first}. The studio keeps running.", details)
    except Exception:  # noqa: BLE001 - never let the hook itself raise
        pass


def install_excepthook(show: ShowFn) -> None:
    """Route uncaught exceptions (e.g. raised in a Qt slot) to `show`."""
    global _previous_hook
    if _previous_hook is None:
        _previous_hook = sys.excepthook

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            (_previous_hook or sys.__excepthook__)(exc_type, exc, tb)
            return
        report_exception(show, exc_type, exc, tb)

    sys.excepthook = hook


def uninstall_excepthook() -> None:
    global _previous_hook
    if _previous_hook is not None:
        sys.excepthook = _previous_hook
        _previous_hook = None
