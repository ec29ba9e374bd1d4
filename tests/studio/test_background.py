"""The one background worker: a generator's yields, its return value, failures as one-line messages,
and Stop, all as signals on the GUI thread."""

import pytest

from studio.background import Worker, person_message
from tests.studio.helpers import Listener


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


def test_a_listener_freed_while_results_are_on_their_way_is_never_called(qtbot):
    """PySide6 delivers a call queued from another thread even to a slot disconnected or freed since,
    and a freed plain-Python receiver crashed the process (one full suite run segfaulted in pytest-qt's
    `_quit_loop_by_signal`). The worker emits its signals on the GUI thread: nothing is queued to them."""
    import gc
    worker = Worker(counting, 3)
    leaving, staying = Listener(worker.yielded), Listener(worker.yielded)
    worker.start()
    worker.wait()            # everything it sends is on its way, not yet delivered
    del leaving
    gc.collect()
    qtbot.waitUntil(lambda: len(staying.heard) == 3, timeout=10_000)
    assert staying.heard == [(0,), (1,), (2,)]


def test_signals_wait_for_the_gui_thread_so_listening_after_start_misses_nothing(qtbot):
    worker = Worker(counting, 2)
    worker.start()
    worker.wait()            # finished on its thread: its `done` reaches whoever listens by the next event loop
    with qtbot.waitSignal(worker.done, timeout=10_000):
        pass


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_background_work_runs_at_a_lower_priority_than_the_gui_thread(qtbot):
    import os
    import threading

    def own_nice():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    gui = own_nice()
    worker = Worker(own_nice)
    with qtbot.waitSignal(worker.returned, timeout=10_000) as got:
        worker.start()
    worker.wait()
    assert got.args[0] > gui or got.args[0] == 19   # the GUI thread gets a core first
    assert own_nice() == gui                         # and the GUI thread's own priority is untouched


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_torchs_threads_started_by_background_work_run_at_its_lower_priority(qtbot):
    """torch's intra-op (OpenMP) threads are started by the thread whose work first needs them, after it
    lowered its priority, and Linux hands a new thread its creator's nice value: training's helper threads
    yield to the GUI thread as training itself does."""
    import os
    import threading

    import torch
    if "OpenMP" not in torch.__config__.parallel_info():
        pytest.skip("torch's intra-op pool here is not OpenMP's per-thread one")

    def tasks():
        return {int(t) for t in os.listdir("/proc/self/task")}

    def nice_of(tid):
        stat = open(f"/proc/self/task/{tid}/stat").read()
        return int(stat[stat.rindex(")") + 2:].split()[16])

    def pool():
        before, old = tasks(), torch.get_num_threads()
        torch.set_num_threads(2)
        try:
            (torch.ones(1 << 20) * 2).sum()   # big enough for a parallel region: the pool starts
        finally:
            torch.set_num_threads(old)
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return mine, [nice_of(t) for t in tasks() - before
                      if open(f"/proc/self/task/{t}/comm").read().startswith("genstudio-pool")]

    gui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = Worker(pool)
    with qtbot.waitSignal(worker.returned, timeout=20_000) as got:
        worker.start()
    worker.wait()
    mine, helpers = got.args[0]
    assert mine > gui or mine == 19
    assert helpers and all(n == mine for n in helpers)


def test_a_call_posted_for_an_object_deleted_meanwhile_is_dropped(qtbot):
    """post_to_gui is the studio's one way from any thread to the GUI thread (workers, model hosts,
    thumbnail readers): the call runs there unless its object was deleted by then."""
    import threading

    import shiboken6
    from PySide6.QtCore import QObject

    from studio.background import post_to_gui

    kept, gone, heard = QObject(), QObject(), []
    thread = threading.Thread(target=lambda: [post_to_gui(o, heard.append, name) for o, name in
                                              ((gone, "gone"), (kept, "kept"))])
    thread.start()
    thread.join()                  # both calls are on their way
    shiboken6.delete(gone)
    qtbot.waitUntil(lambda: heard == ["kept"], timeout=5_000)


def test_an_input_target_hears_its_thumbnails_on_the_gui_thread_and_a_deleted_one_nothing(qtbot, tmp_path):
    import threading

    import numpy as np
    import shiboken6
    from PIL import Image

    from engines.families.base import InputSpec
    from studio.input_targets import InputTarget

    for i in range(2):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    spec = InputSpec("b", "images", "the second set")
    target, doomed = InputTarget(spec), InputTarget(spec)
    qtbot.addWidget(target)
    threads = []
    looked = target._on_looked
    target._on_looked = lambda *a: (threads.append(threading.current_thread()), looked(*a))
    doomed._on_looked = lambda *a: threads.append("deleted target called")
    doomed.set_paths([str(tmp_path)])
    shiboken6.delete(doomed)
    target.set_paths([str(tmp_path)])
    qtbot.waitUntil(lambda: "2 images" in target.status.text(), timeout=10_000)
    assert threads == [threading.main_thread()]
