"""Keeps Python's cyclic garbage collector from stalling the window.

A full (generation 2) collection walks every object the collector tracks. The studio holds a few hundred
thousand of them once torch, Qt, pyqtgraph, the panels and a model are loaded, so an automatic full
collection held the GIL for a tenth of a second or more, on whichever thread happened to allocate: the
window froze that long every so often while training (benchmarks/ui_latency.py --stall-stacks caught it).

Objects that live as long as the window (modules, widgets) or as long as a run (the model, the
optimiser, the panels' items for it) are moved out of the collector's sight with gc.freeze(): every
collection after it walks only what was made since, which is small. Frozen objects are still freed as
soon as nothing refers to them; only a reference cycle among them waits, until the run ends, when one
full collection (at a moment the window changes anyway) reclaims what the run left and freezes again.

What is made while no run trains lives on too: a past run opened again (its curves and samples in the
panels) and an explorer panel's model (loaded on its own thread) are frozen once they are there. When
one is let go (another past run opened, a model closed) one full collection reclaims it, unless a run
is training: then the run's end does (a full collection mid-run is the stall this module avoids).

    keeper = HeapKeeper(window.state, open_models())   # the studio and its scripts; tests leave the collector
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject


def settle() -> None:
    """One full collection, then freeze what is left (it lives on): at start-up and when a run ends."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def freeze_young() -> None:
    """Collect the young generations (cheap: only what was made since their last collection), then
    freeze everything alive: what a run has built by now lives on while it trains."""
    gc.collect(1)
    gc.freeze()


class HeapKeeper(QObject):
    """Freezes the long-lived objects of the studio (at once), of each run (at its first progress and at
    each sample grid: the run's model and its panels' items), of a past run opened and of a model loaded
    (`models`: studio.model_service.OpenModels), and settles the heap when a run ends or, between runs,
    when an opened run or a model is let go."""

    def __init__(self, state, models=None, parent: QObject | None = None):
        super().__init__(parent if parent is not None else state)
        self.first_progress_pending = False
        self.training = False        # between a run's start and its end
        self.opened = False          # a past run's objects are frozen (opening another lets them go)
        state.run_started.connect(self._on_started)
        state.progress.connect(self._on_progress)
        state.samples.connect(self._on_samples)
        state.run_ended.connect(self._on_run_ended)
        state.run_opened.connect(self._on_run_opened)
        if models is not None:
            models.model_loaded.connect(self._on_model_loaded)
            models.model_closed.connect(self._on_model_closed)
        settle()

    def _on_started(self, _event) -> None:
        self.first_progress_pending = True
        self.training = True
        self.opened = False          # the run's end settles what an opened run left

    def _on_progress(self, _event) -> None:
        if self.first_progress_pending:   # the model and optimiser exist, the panels have their curves
            self.first_progress_pending = False
            freeze_young()

    def _on_samples(self, _event) -> None:
        freeze_young()

    def _on_run_ended(self) -> None:
        self.first_progress_pending = False
        self.training = False
        self.opened = True           # the window shows the run that ended until another opens
        settle()

    def _on_run_opened(self, _history) -> None:
        # connected after the panels (the keeper is made after the window): they have built its items
        if self.opened and not self.training:
            settle()                 # reclaims the run shown before, freezes this one
        else:
            freeze_young()
        self.opened = True

    def _on_model_loaded(self, _key) -> None:
        freeze_young()

    def _on_model_closed(self, _key) -> None:
        if not self.training:
            settle()
