"""The one background worker: a generator's yields, its return value, failures as one-line messages,
and Stop, all as signals on the GUI thread."""

import pytest

from studio.background import Worker, person_message


def counting(n, cancelled=None):
    for i in range(n):
        yield i
    return "done"


def test_a_generator_yields_and_returns(qtbot):
    worker = Worker(counting, 3)
    got, returned = [], []
    worker.yielded.connect(got.append)
    worker.returned.connect(returned.append)
    with qtbot.waitSignal(worker.done, timeout=10_000):
        worker.start()
    assert got == [0, 1, 2] and returned == ["done"]
    worker.wait()


def test_failures_become_one_line_messages(qtbot):
    def broken():
        raise RuntimeError("boom\nsecond line")

    worker = Worker(broken)
    with qtbot.waitSignal(worker.errored, timeout=10_000) as failed:
        worker.start()
    message, details = failed.args
    assert message == "RuntimeError: boom" and "Traceback" in details
    worker.wait()
    assert person_message(FileNotFoundError(2, "No such file or directory", "/x.png")) == \
        ("No such file or directory (/x.png)", "")


def test_stop_ends_a_generator_as_cancelled(qtbot):
    import threading
    gate = threading.Event()

    def waiting(cancelled=None):
        yield "started"
        gate.wait(10)
        yield "never seen"

    worker = Worker(waiting)
    with qtbot.waitSignal(worker.yielded, timeout=10_000):
        worker.start()
    # listen before letting it go on: a signal emitted before anyone connects reaches no one
    with qtbot.waitSignal(worker.cancelled, timeout=10_000):
        worker.cancel()
        gate.set()
    worker.wait()
