"""Timeline panel: every sample grid of the run (same fixed noise), a slider through training, and
the timelapse exported as GIF, MP4 or PNG frames."""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout

from engines.export import ExportError, ExportOptions, fit_frames, timelapse_frames

from ..dialogs import ask_overwrite, export_checked
from ..export_dialog import ask_export, with_changes
from .base import RIGHT, Panel
from ..widgets.grid import GridView


class TimelinePanel(Panel):
    panel_id = "timeline"
    title = "Timeline"
    area = RIGHT
    tab_with = "gallery"

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.steps: list[int] = []
        self.grids: list[np.ndarray] = []
        self.tile = 0
        self.n = 0
        self.follow = True   # jump to the newest grid as it arrives, unless the person scrubbed back
        self.confirm_overwrite: Callable[[Path], bool] = lambda path: ask_overwrite(self, path)

        self.view = GridView()
        self.view.placeholder = "Every sample grid of the run appears here as it trains"
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._show)
        self.step_label = QLabel("No samples yet.")
        # the last choices in the export dialog (captions: the training step under each frame)
        self.export_options = ExportOptions(scale=2, fps=6.0)
        self.export_button = QPushButton("Export timelapse…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._choose_export)
        row = QHBoxLayout()
        row.addWidget(self.step_label, 1)
        row.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.slider)
        layout.addLayout(row)

        state.run_started.connect(self._on_run_started)
        state.samples.connect(self._on_samples)
        state.run_opened.connect(self.load_run)  # the Runs panel reopens old runs
        state.train_warning.connect(self._on_warning)

    # --- filling --------------------------------------------------------------------------------
    def clear(self) -> None:
        self.steps, self.grids = [], []
        self.slider.setRange(0, 0)
        self.step_label.setText("No samples yet.")
        self.export_button.setEnabled(False)
        self.follow = True

    def load_run(self, run_dir) -> None:
        """Show the sample grids an existing run folder holds."""
        self.clear()
        try:
            steps, frames = timelapse_frames(run_dir)
        except (ExportError, OSError, ValueError) as exc:
            self.step_label.setText(str(exc))
            return
        self.steps, self.grids = list(steps), list(frames)
        self._refresh(jump_to_end=True)

    def _on_run_started(self, event) -> None:
        if event.start_step == 0 or event.run_dir is None:
            self.clear()
        else:  # a resumed run: start from what is on disk
            self.load_run(event.run_dir)

    def _on_warning(self, event) -> None:
        """A rollback took training back to event.step: its later grids are gone from the run folder
        too, and fresh ones will replace them."""
        if event.kind != "rollback" or not self.steps or self.steps[-1] <= event.step:
            return
        keep = bisect.bisect_right(self.steps, event.step)
        del self.steps[keep:], self.grids[keep:]
        if not self.grids:
            self.clear()
            return
        self._refresh(jump_to_end=self.follow or self.slider.value() >= len(self.grids))

    def _on_samples(self, event) -> None:
        grid = np.asarray(event.grid)  # a new run clears at its start; a grid may change size during a run
        i = bisect.bisect_left(self.steps, event.step)
        if i < len(self.steps) and self.steps[i] == event.step:
            self.grids[i] = grid
        else:
            self.steps.insert(i, event.step)
            self.grids.insert(i, grid)
        self.n, self.tile = len(event.images), int(event.images.shape[1])
        self._refresh(jump_to_end=self.follow)

    def _refresh(self, jump_to_end: bool) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self.grids) - 1))
        if jump_to_end:
            self.slider.setValue(len(self.grids) - 1)
        self.slider.blockSignals(False)
        self.export_button.setEnabled(len(self.grids) > 0)
        self._show(self.slider.value())

    def _show(self, index: int) -> None:
        if not self.grids:
            return
        index = max(0, min(index, len(self.grids) - 1))
        self.follow = index == len(self.grids) - 1
        grid = self.grids[index]
        self.view.set_grid(grid, 1, min(grid.shape[:2]))
        self.step_label.setText(f"step {self.steps[index]} ({index + 1} of {len(self.grids)})")

    # --- export ---------------------------------------------------------------------------------
    def _choose_export(self) -> None:
        if not self.grids:
            return
        chosen = ask_export(self, "Export timelapse", "timelapse.gif",
                            "Animated GIF (*.gif);;MP4 video (*.mp4);;PNG strip (*.png)", self.export_options,
                            captions="training step under each frame", frame_size=self.grids[0].shape[:2])
        if chosen is not None:
            self.export_options = chosen[1]
            self.export_to(chosen[0])

    def export_to(self, path: str | Path, options: ExportOptions | None = None, **changes) -> Path | None:
        """Write the timelapse with `options` (default: the last ones chosen), fields replaced by `changes`."""
        if not self.grids:
            return None
        options = with_changes(options or self.export_options, **changes)
        captions = [f"step {s}" for s in self.steps]
        out, message = export_checked(np.stack(fit_frames(self.grids)), path, self.confirm_overwrite,
                                      **options.frame_options(captions))
        self.state.notice.emit("info" if out is not None else "warning", message, "", "export:timeline")
        return out
