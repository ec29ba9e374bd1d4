"""Which run (and checkpoint) an explorer panel looks at: the current run, a reopened one, or any
run folder.

Unpinned (the default), a panel follows the studio: the run being trained (from its first
checkpoint), the newest checkpoint of a run that just finished, a run opened in the Runs panel.
Pinned (the Pin button, or by opening another run or a particular checkpoint by hand), it keeps
what it shows until the person unpins it or presses "Current run"."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QToolButton,
                               QVBoxLayout, QWidget)

from engines.train.checkpoint import best_checkpoint, checkpoint_paths

from . import dialogs


class RunChooser(QWidget):
    chosen = Signal(object, object)   # run folder (Path), checkpoint JSON path or None (the newest)
    note = Signal(str)                # something to tell the person

    def __init__(self, state, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.run_dir: Path | None = None
        self.label = QLabel("No run open.")
        self.label.setWordWrap(True)
        self.use_current = QPushButton("Current run")
        self.use_current.setToolTip("The run being trained or just finished (its newest checkpoint); "
                                    "the panel follows it from now on")
        self.use_current.clicked.connect(self.open_current_run)
        self.pin = QToolButton()
        self.pin.setCheckable(True)
        self.pin.setObjectName("pin")
        self.pin.toggled.connect(self._show_pin)
        self._show_pin(False)
        self._waiting_for: Path | None = None  # a run being trained, opened at its first checkpoint
        self.open_button = QPushButton("Open run…")
        self.open_button.clicked.connect(self._choose_run)
        self.checkpoint_box = QComboBox()
        self.checkpoint_box.setToolTip("Which checkpoint of the run to use")
        self.checkpoint_box.activated.connect(self._on_checkpoint_chosen)
        row = QHBoxLayout()
        row.addWidget(self.pin)
        row.addWidget(self.use_current)
        row.addWidget(self.open_button)
        row.addWidget(self.checkpoint_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addLayout(row)
        state.run_started.connect(self._on_run_started)
        state.checkpoint.connect(self._on_checkpoint)
        state.finished.connect(self._on_training_finished)
        state.run_opened.connect(self._on_run_opened)
        state.checkpoint_chosen.connect(self._on_checkpoint_asked)

    # --- following and pinning -----------------------------------------------------------------------
    @property
    def pinned(self) -> bool:
        return self.pin.isChecked()

    def set_pinned(self, on: bool) -> None:
        self.pin.setChecked(on)

    def _show_pin(self, on: bool) -> None:
        self.pin.setText("📌 Pinned" if on else "Pin")
        self.pin.setToolTip("Pinned: this panel keeps the run it shows; click to follow the run being trained "
                            "again" if on else "Keep this run here. Unpinned, the panel follows the run being "
                            "trained (or just finished)")

    def _current(self) -> Path | None:
        current = self.state.run_dir
        return Path(current) if current is not None else None

    def _on_run_started(self, _event) -> None:
        current = self._current()
        if self.pinned or current is None:
            return
        if checkpoint_paths(current):  # a resumed run: it has weights already
            self.open_run(current)
        else:
            self._waiting_for = current
            self.label.setText(f"Following {current.name}: it opens here at its first checkpoint.")

    def _on_checkpoint(self, _event) -> None:
        current = self._current()
        if not self.pinned and current is not None and self._waiting_for == current:
            self._waiting_for = None
            self.open_run(current)

    def _on_run_opened(self, history) -> None:
        if not self.pinned:
            self.open_run(Path(history))

    def _on_checkpoint_asked(self, run_dir, checkpoint) -> None:
        """A particular checkpoint asked for (e.g. "Use best"): shown, and kept (pinned)."""
        self.open_run(run_dir, checkpoint)
        self.set_pinned(True)

    def open_run(self, run_dir: str | Path, checkpoint: str | Path | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.label.setText(f"Opening {self.run_dir.name}…")
        self._fill_checkpoints(checkpoint)
        self.chosen.emit(self.run_dir, checkpoint)

    def open_current_run(self) -> None:
        self.set_pinned(False)  # "Current run" means: follow it
        if self.state.run_dir is None or not Path(self.state.run_dir, "run.json").exists():
            self.note.emit("No run has been trained in this session yet; use Open run… for an older one.")
            return
        if not checkpoint_paths(self.state.run_dir):
            self._waiting_for = Path(self.state.run_dir)
            self.note.emit(f"{Path(self.state.run_dir).name} has no checkpoint yet; it opens here at its first.")
            return
        self.open_run(self.state.run_dir)

    def show_loaded(self, info: dict) -> None:
        best = str(info.get("checkpoint") or "").endswith("best.json")
        text = f"{Path(info['run_dir']).name} — {info['family']}, {'best checkpoint, ' if best else ''}step {info['step']}"
        warnings = info.get("warnings") or []
        self.label.setText(text + "".join(f"\n⚠ {w}" for w in warnings))

    def show_failed(self) -> None:
        self.label.setText("No run open.")

    def _choose_run(self) -> None:
        folder = dialogs.open_folder(self, "Open a run folder", "runs")
        if folder:
            self.open_run(folder)
            self.set_pinned(self._current() != Path(folder))  # another run, chosen by hand: keep it

    def _fill_checkpoints(self, chosen: str | Path | None) -> None:
        self.checkpoint_box.blockSignals(True)
        self.checkpoint_box.clear()
        for step, path in reversed(checkpoint_paths(self.run_dir)) if self.run_dir else []:
            self.checkpoint_box.addItem(f"step {step}", str(path))
        best = best_checkpoint(self.run_dir) if self.run_dir else None
        if best is not None:
            try:  # the JSON alone (no tensors read): which step the best one is
                step = int(json.loads(best.read_text()).get("step", 0))
                self.checkpoint_box.addItem(f"best (step {step})", str(best))
            except (OSError, ValueError):
                pass
        if chosen is not None:
            i = self.checkpoint_box.findData(str(chosen))
            if i >= 0:
                self.checkpoint_box.setCurrentIndex(i)
        self.checkpoint_box.blockSignals(False)

    def _on_checkpoint_chosen(self, index: int) -> None:
        path = self.checkpoint_box.itemData(index)
        if path and self.run_dir is not None:
            self.open_run(self.run_dir, path)
            self.set_pinned(index != 0)  # an older (or the best) checkpoint, chosen by hand: keep it

    def _on_training_finished(self, _event) -> None:
        # a freshly trained run is what a person most likely wants to look at next: its newest weights
        current = self._current()
        self._waiting_for = None
        if self.pinned or current is None or not Path(current, "run.json").exists() or not checkpoint_paths(current):
            return
        self.open_run(current)
