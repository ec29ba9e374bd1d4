"""The shared model's host runs jobs on its thread; what they send reaches a panel's handle on the GUI
thread, and only while the handle still uses that host (no queued call reaches a freed listener)."""

import gc
import threading

import numpy as np

from studio.model_service import ModelService, OpenModels, running_host
from tests.studio.helpers import Listener


def _handle(models, tmp_path):
    service = ModelService(models=models)
    service.host = models.attach(service, tmp_path, None)   # what open_run does, without loading a model
    return service


def _send_frames(service, ran: threading.Event, hosts: list, n=3):
    def job(progress):
        hosts.append(running_host())
        for i in range(n):
            progress(i, n)
            service.send("frames_ready", "samples", np.full((1, 2, 2, 3), i, np.uint8))
        ran.set()
    service.submit("sample", job)


def test_a_listener_freed_while_results_are_on_their_way_is_never_called(qtbot, tmp_path):
    """PySide6 delivers a call queued from another thread even to a slot freed since, which crashed
    the process (a full suite run segfaulted in pytest-qt's `_quit_loop_by_signal`): the handle's
    signals are emitted on the GUI thread when the host delivers, never queued to listeners."""
    models = OpenModels()
    service = _handle(models, tmp_path)
    leaving, staying = Listener(service.frames_ready), Listener(service.frames_ready)
    ran, hosts = threading.Event(), []
    _send_frames(service, ran, hosts)
    assert ran.wait(30)      # sent from the host's thread, not yet delivered
    del leaving
    gc.collect()
    qtbot.waitUntil(lambda: len(staying.heard) == 3, timeout=10_000)
    assert [int(frames[0, 0, 0, 0]) for _kind, frames in staying.heard] == [0, 1, 2]
    assert hosts == [service.host] and running_host() is None   # the job ran on its host's thread
    service.shutdown()
    models.shutdown()


def test_a_handle_that_left_its_model_hears_nothing_more_from_it(qtbot, tmp_path):
    models = OpenModels()
    leaving, staying = _handle(models, tmp_path), _handle(models, tmp_path)
    assert leaving.host is staying.host                      # one model, two panels
    heard_by_leaving = Listener(leaving.frames_ready)
    busy_of_leaving = Listener(leaving.busy_changed)
    heard_by_staying = Listener(staying.frames_ready)
    ran, hosts = threading.Event(), []
    _send_frames(leaving, ran, hosts)
    assert ran.wait(30)
    leaving.shutdown()                                       # its panel closed (or opened another checkpoint)
    _send_frames(staying, threading.Event(), hosts, n=1)     # delivered after everything the first job sent
    qtbot.waitUntil(lambda: len(heard_by_staying.heard) == 1, timeout=10_000)
    assert heard_by_leaving.heard == [] and busy_of_leaving.heard == []
    staying.shutdown()
    models.shutdown()


def test_pending_counts_only_what_the_current_model_still_has_to_deliver(qtbot, tmp_path):
    """`pending == 0` means every result of the handle's current model arrived; a model it left (which
    may go before delivering) never keeps it above 0."""
    models = OpenModels()
    service = _handle(models, tmp_path / "a")
    ran = threading.Event()
    _send_frames(service, ran, [])
    assert ran.wait(30)
    assert service.pending >= 1         # the job still ends, or what it sent is on its way (no event loop ran)
    old, service.host = service.host, models.attach(service, tmp_path / "b", None)   # another checkpoint
    models.detach(service, old, 10_000)
    assert service.pending == 0
    service.shutdown()
    models.shutdown()


def test_the_models_say_on_the_gui_thread_when_one_is_loaded_and_when_its_last_panel_let_it_go(qtbot, tmp_path):
    """What studio.heap listens to: freeze a loaded model, reclaim a closed one."""
    models = OpenModels()
    first, second = _handle(models, tmp_path), _handle(models, tmp_path)
    on_gui = []
    models.model_loaded.connect(lambda key: on_gui.append(threading.current_thread() is threading.main_thread()))
    closed = Listener(models.model_closed)

    def job(progress):   # what ensure_loaded does once the checkpoint is read, on the host's thread
        host = running_host()
        host.models.count_load(host.key)
    with qtbot.waitSignal(models.model_loaded, timeout=10_000) as loaded:
        first.submit("open", job)
    assert loaded.args == [first.host.key] and on_gui == [True]
    key = first.host.key
    first.shutdown()
    assert closed.heard == []                                # another panel still uses it
    second.shutdown()
    qtbot.waitUntil(lambda: closed.heard == [(key,)], timeout=10_000)
    models.shutdown()
