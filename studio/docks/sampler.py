"""Sampler panel: draw samples from a trained run with the family's sampling options, one class or
all of them, with progress and Stop (PixelCNN and diffusion sample step by step); for diffusion, the
denoising path and what fewer DDIM steps save in time; for StyleGAN, the style-mixing grid.
Bounded float options (truncation psi, temperature) get a slider beside their text box."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from engines.config import ConfigError
from engines.export import ExportOptions
from engines.imaging import class_grid_columns, make_grid

from ..dialogs import ask_overwrite, export_checked
from ..export_dialog import ask_export, with_changes
from ..flow import FlowLayout
from .base import RIGHT
from .explorer import ExplorerPanel
from ..widgets.grid import GridView
from ..widgets.options import SamplingOptionsForm
from engines.words import count

ALL_CLASSES = -1
STYLE_MIX_ROWS, STYLE_MIX_COLUMNS = 3, 5


class SamplerPanel(ExplorerPanel):
    panel_id = "sampler"
    title = "Sampler"
    area = RIGHT
    tab_with = "gallery"
    job_kinds = ("sample",)

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.result: np.ndarray | None = None      # uint8 (N, H, W, C) laid out row by row
        self.columns: int | None = None
        self._mix: tuple[list[int], list[int], str] = ([], [], "coarse")
        self.captions: list[str] | None = None      # class name of each result image (conditional runs)
        self._asked_labels: np.ndarray | None = None
        self.export_options = ExportOptions(scale=4)  # the last choices in the export dialog
        self.confirm_overwrite: Callable[[Path], bool] = lambda path: ask_overwrite(self, path)

        self.count = QSpinBox()
        self.count.setRange(1, 256)
        self.count.setValue(16)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.class_box = QComboBox()
        self.options = SamplingOptionsForm(self._update_enabled)
        self.options.setToolTip("The family's sampling options, the ones `genstudio sample --set KEY=VALUE` takes")
        self.options_hint = QLabel("")
        self.options_hint.setWordWrap(True)
        self.options_hint.setStyleSheet("color: #888;")
        self.options_error = QLabel("")
        self.options_error.setObjectName("form_error")
        self.options_error.setWordWrap(True)
        self.options_error.setStyleSheet("color: #c9302c;")
        self.options_error.hide()
        form = QFormLayout()
        form.addRow("Images", self.count)
        form.addRow("Seed", self.seed)
        form.addRow("Class", self.class_box)
        form.addRow(self.options)
        self.mix_level = QComboBox()
        self.mix_level.setToolTip("Which styles each row lends to the column images: coarse (layout, pose), "
                                  "middle (features), fine (colour, texture)")
        self.mix_button = QPushButton("Style mix")
        self.mix_button.setToolTip(f"The style-mixing grid: {STYLE_MIX_COLUMNS} column seeds drawn with the chosen "
                                   f"styles of {STYLE_MIX_ROWS} row seeds (seeds from the seed box on); "
                                   "Export… writes it as a PNG (as `genstudio stylemix`)")
        self.mix_button.clicked.connect(self.style_mix)
        mix_row = QHBoxLayout()
        mix_row.addWidget(self.mix_level, 1)
        mix_row.addWidget(self.mix_button)
        self.mix_row = QWidget()
        self.mix_row.setLayout(mix_row)
        mix_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("Style mixing", self.mix_row)
        form.addRow(self.options_hint)
        form.addRow(self.options_error)
        self._form = form
        self._ready = False

        self.sample_button = QPushButton("Sample")
        self.sample_button.clicked.connect(self.sample)
        self.path_button = QPushButton("Denoising path")
        self.path_button.setToolTip("Watch noise turn into images: x_t at evenly spaced steps, one row per sample")
        self.path_button.clicked.connect(self.sample_path)
        self.times_button = QPushButton("Steps vs time")
        self.times_button.setToolTip("Time per image for 10, 25, 50 and 100 DDIM steps")
        self.times_button.clicked.connect(self.sampling_times)
        self.export_button = QPushButton("Export…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._choose_export)
        buttons = FlowLayout()  # wraps in a narrow dock
        for b in (self.sample_button, self.path_button, self.times_button, self.stop_button, self.export_button):
            buttons.addWidget(b)
        self.view = GridView()
        self.view.placeholder = "Open a run, then press Sample"

        layout = QVBoxLayout(self)
        layout.addWidget(self.chooser)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.service.frames_ready.connect(self._on_frames)
        self.service.timings_ready.connect(self._on_timings)
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        self._ready = on
        for w in (self.count, self.seed, self.options):
            w.setEnabled(on)
        self._update_enabled()

    def _update_enabled(self) -> None:
        """Nothing runs while an option is invalid: the buttons say why instead."""
        error = self.options.error
        self.options_error.setText(error or "")
        self.options_error.setVisible(bool(error))
        cannot = (self.info or {}).get("why_not", {}).get("sample", "")
        runnable = self._ready and not error and not cannot
        reason = f"Fix the sampling options first: {error}" if error else cannot
        self.sample_button.setEnabled(runnable)
        self.sample_button.setToolTip(reason or "Draw the images with these options")
        self.path_button.setEnabled(runnable and bool(self.info and self.info.get("path")))
        self.mix_button.setEnabled(runnable and bool(self.info and self.info.get("style_levels")))
        self.times_button.setEnabled(runnable and bool(self.info and self.info.get("times")))
        for b in (self.path_button, self.times_button):
            if error:
                b.setToolTip(reason)

    def on_loaded(self, info: dict) -> None:
        # what the model offers (path, times, style_levels) came with it from its thread
        self.class_box.clear()
        if info["conditional"] and info["classes"]:
            self.class_box.addItem("all classes", ALL_CLASSES)
            for i, name in enumerate(info["classes"]):
                self.class_box.addItem(name, i)
        self._form.setRowVisible(self.class_box, self.class_box.count() > 0)
        self.mix_level.clear()
        self.mix_level.addItems(info["style_levels"])
        self._form.setRowVisible(self.mix_row, bool(info["style_levels"]))
        self.options.set_fields(info.get("sampling") or [])
        names = [f.name for f in self.options.fields]
        self.options_hint.setText(f"Sampling options (as `genstudio sample --set`): {', '.join(names)}" if names
                                  else f"{info['family']} has no sampling options")
        self.options.setVisible(bool(names))
        self._set_enabled(True)
        self.say(info.get("why_not", {}).get("sample", ""))

    def _labels(self, n: int) -> np.ndarray | None:
        label = self.class_box.currentData()
        if label is None:
            return None
        if label == ALL_CLASSES:
            return np.arange(n) % len(self.info["classes"])
        return np.full(n, int(label), dtype=np.int64)

    def _checked_options(self) -> dict | None:
        """The typed sampling options, or None (and the reason shown) while one is invalid."""
        if self.info is None:
            return None
        try:
            return self.options.values()
        except ConfigError as exc:
            self.say(str(exc))
            self._update_enabled()
            return None

    def sample(self) -> None:
        options = self._checked_options()
        if options is None:
            return
        n = self.count.value()
        self._asked_labels = self._labels(n)
        self.service.sample(n, self.seed.value(), self._asked_labels, options)

    def sample_path(self) -> None:
        options = self._checked_options()
        if options is None:
            return
        n = min(self.count.value(), 8)
        self.service.sample_path(n, self.seed.value(), self._labels(n), options=options)

    def style_mix(self) -> None:
        options = self._checked_options()
        if options is None or not self.mix_level.count():
            return
        seed = self.seed.value()
        self._mix = ([seed + i for i in range(STYLE_MIX_ROWS)],
                     [seed + STYLE_MIX_ROWS + j for j in range(STYLE_MIX_COLUMNS)], self.mix_level.currentText())
        self.service.style_mix(*self._mix, options=options)

    def sampling_times(self) -> None:
        options = self._checked_options()
        if options is not None:
            self.say("Timing DDIM at 10, 25, 50 and 100 steps…")
            self.service.sampling_times(options)

    def _on_frames(self, kind: str, frames: np.ndarray) -> None:
        if kind == "samples":
            self.result, self.columns = frames, None
            names = self.info["classes"] if self.info else []
            labels = self._asked_labels
            self.captions = [names[int(y)] for y in labels] if labels is not None and len(labels) == len(frames) \
                else None
            label = self.class_box.currentText() if self.class_box.count() else ""
            self.say(count(len(frames), "sample") + (f" ({label})" if label else "") + ".")
        elif kind == "stylemix":
            rows, cols, level = self._mix
            self.result, self.columns = frames, len(cols) + 1
            self.captions = [""] + [f"seed {c}" for c in cols] + \
                [x for r in rows for x in [f"seed {r}"] + [""] * len(cols)]
            self.say(f"Style mixing: each row draws the top row's seeds with the {level} styles of the seed "
                     f"on its left.")
        elif kind == "path":
            n, k = frames.shape[:2]
            self.result, self.columns = frames.reshape((n * k,) + frames.shape[2:]), k
            self.captions = None
            self.say(f"Denoising path: {count(k, 'snapshot')} from pure noise (left) to the image (right), {count(n, 'sample')}.")
        else:
            return
        columns = self.columns
        if columns is None:
            all_classes = self.class_box.currentData() == ALL_CLASSES
            columns = (class_grid_columns(len(self.result), len(self.info["classes"])) if all_classes
                       else int(np.ceil(np.sqrt(len(self.result)))))
        self.view.set_grid(make_grid(self.result, columns=columns), len(self.result), self.result.shape[1],
                           self.captions)
        self.columns = columns
        self.export_button.setEnabled(True)

    def _on_timings(self, timings) -> None:
        self.say("Time per image with DDIM: " + " · ".join(f"{steps} steps {sec * 1000:.0f} ms"
                                                         for steps, sec in timings))

    def on_open_failed(self) -> None:
        self._set_enabled(False)

    def _choose_export(self) -> None:
        if self.result is None:
            return
        chosen = ask_export(self, "Export samples", "samples.png",
                            "PNG grid (*.png);;Animated GIF (*.gif);;MP4 video (*.mp4)", self.export_options,
                            captions="class name under each image" if self.captions else None,
                            frame_size=self.result.shape[1:3])
        if chosen is not None:
            self.export_options = chosen[1]
            self.export_to(chosen[0])

    def export_to(self, path: str | Path, options: ExportOptions | None = None, **changes) -> Path | None:
        """Write the current samples with `options` (default: the last ones chosen), fields replaced by `changes`."""
        if self.result is None:
            return None
        options = with_changes(options or self.export_options, **changes)
        out, message = export_checked(self.result, path, self.confirm_overwrite, columns=self.columns,
                                      **options.frame_options(self.captions))
        self.say(message)
        return out

