"""The garbage-collector policy of the real studio (studio.heap): long-lived objects are frozen, so an
automatic full collection walks only what is new and never stalls the window; what a run leaves in
reference cycles is reclaimed when it ends."""

import gc
import weakref

import pytest
from PySide6.QtCore import QObject, Signal

from studio.heap import HeapKeeper


class FakeState(QObject):
    run_started = Signal(object)
    progress = Signal(object)
    samples = Signal(object)
    run_ended = Signal()
    run_opened = Signal(object)


class FakeModels(QObject):
    model_loaded = Signal(object)
    model_closed = Signal(object)


class Node:
    def __init__(self):
        self.me = self      # a reference cycle: only the collector frees it


@pytest.fixture
def keeper(qtbot):
    state = FakeState()
    keeper = HeapKeeper(state, models := FakeModels())
    keeper.models = models
    yield state, keeper
    gc.unfreeze()            # the rest of the test process keeps the collector as it was
    gc.collect()


def test_what_lives_at_start_up_is_frozen_so_a_full_collection_walks_only_what_is_new(keeper):
    assert gc.get_freeze_count() > 1000
    assert len(gc.get_objects()) < 1000


def test_a_runs_objects_are_frozen_at_its_first_progress_and_at_each_sample_grid(keeper):
    state, _ = keeper
    state.run_started.emit(object())
    model = [Node() for _ in range(100)]   # what a run builds: lives while it trains
    frozen = gc.get_freeze_count()
    state.progress.emit(object())
    assert gc.get_freeze_count() >= frozen + 100
    frozen = gc.get_freeze_count()
    state.progress.emit(object())          # later progress events freeze nothing
    assert gc.get_freeze_count() == frozen
    grid = [Node() for _ in range(50)]
    state.samples.emit(object())
    assert gc.get_freeze_count() >= frozen + 50
    assert model and grid


def test_a_cycle_a_run_left_frozen_is_reclaimed_when_the_run_ends(keeper):
    state, _ = keeper
    state.run_started.emit(object())
    node = Node()
    gone = weakref.ref(node)
    state.progress.emit(object())          # frozen with the run
    del node
    gc.collect()
    assert gone() is not None              # the collector no longer sees it ...
    state.run_ended.emit()
    assert gone() is None                  # ... until the run ends
    assert gc.get_freeze_count() > 1000    # and what lives on is frozen again


def test_a_past_run_opened_is_frozen_and_reclaimed_when_another_is_opened(keeper):
    state, _ = keeper
    node = Node()                          # what the panels build for the opened run
    gone = weakref.ref(node)
    frozen = gc.get_freeze_count()
    state.run_opened.emit(object())
    assert gc.get_freeze_count() > frozen  # frozen without waiting for a run
    del node
    gc.collect()
    assert gone() is not None
    state.run_opened.emit(object())        # another run shown: the first one's cycles go
    assert gone() is None
    assert gc.get_freeze_count() > 1000


def test_a_loaded_model_is_frozen_and_reclaimed_when_closed_but_not_mid_run(keeper):
    state, k = keeper
    model = [Node() for _ in range(100)]   # what a model host built on its thread
    gone = weakref.ref(model[0])
    frozen = gc.get_freeze_count()
    k.models.model_loaded.emit(("run", "ckpt"))
    assert gc.get_freeze_count() >= frozen + 100
    state.run_started.emit(object())
    del model
    k.models.model_closed.emit(("run", "ckpt"))
    assert gone() is not None              # no full collection while a run trains ...
    state.run_ended.emit()
    assert gone() is None                  # ... its end reclaims it
    model = [Node()]
    gone = weakref.ref(model[0])
    k.models.model_loaded.emit(("run", "ckpt2"))
    del model
    k.models.model_closed.emit(("run", "ckpt2"))   # between runs: reclaimed at once
    assert gone() is None
