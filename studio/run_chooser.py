"""Which run (and checkpoint) an explorer panel looks at: the current run, a reopened one, or any
run folder. Follows the studio: a finished training run or a run opened in the Runs panel."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engines.train.checkpoint import best_checkpoint, checkpoint_paths


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
        self.use_current.setToolTip("The run being trained (its newest checkpoint)")
        self.use_current.clicked.connect(self.open_current_run)
        self.open_button = QPushButton("Open run…")
        self.open_button.clicked.connect(self._choose_run)
        self.checkpoint_box = QComboBox()
        self.checkpoint_box.setToolTip("Which checkpoint of the run to use")
        self.checkpoint_box.activated.connect(self._on_checkpoint_chosen)
        row = QHBoxLayout()
        row.addWidget(self.use_current)
        row.addWidget(self.open_button)
        row.addWidget(self.checkpoint_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addLayout(row)
        state.finished.connect(self._on_training_finished)
        state.run_opened.connect(lambda history: self.open_run(Path(history)))
        state.checkpoint_chosen.connect(self.open_run)

    def open_run(self, run_dir: str | Path, checkpoint: str | Path | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.label.setText(f"Opening {self.run_dir.name}…")
        self._fill_checkpoints(checkpoint)
        self.chosen.emit(self.run_dir, checkpoint)

    def open_current_run(self) -> None:
        if self.state.run_dir is None or not Path(self.state.run_dir, "run.json").exists():
            self.note.emit("No run has been trained in this session yet; use Open run… for an older one.")
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
        from .workspace import runs_root
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", str(runs_root()))
        if folder:
            self.open_run(folder)

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

    def _on_training_finished(self, _event) -> None:
        # a freshly trained run is what a person most likely wants to look at next
        current = self.state.run_dir
        if current is None or not Path(current, "run.json").exists():
            return
        if self.run_dir is None or Path(current) == self.run_dir:
            self.open_run(current)
