"""Compare panel: runs side by side, so the trade-offs between families show on the person's data.

The table and the curves come from the run folders (engines/compare.py: milliseconds). "Measure
samples" loads each run's model and draws from it in a background thread: parameters, time per
image and, for data with class subfolders, Fréchet distance and classes covered. The newest sample
grid of each run sits underneath for the eye.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6 import QtCore  # noqa: F401 - imported before pyqtgraph so it binds to PySide6
from PySide6.QtCore import QThread, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QSizePolicy, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

import pyqtgraph as pg

from engines.compare import Cancelled, RunFacts, common_measures, measure_run, mixed_data_note, run_facts, table
from engines.errors import PERSON_ERRORS

from .base import RIGHT, Panel
from engines.words import count

THUMB = 120
X_AXES = {"step": 0, "training time (s)": 1}  # column of RunFacts.curves rows


class MeasureThread(QThread):
    """measure_run for each run in turn; never touches widgets, reports by signal."""
    status = Signal(str)
    measured = Signal(str, object)        # run path, Measured
    failed = Signal(str, str)             # run path, message for a person

    def __init__(self, paths: list[Path], n: int):
        super().__init__()
        self.paths, self.n = list(paths), n
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def run(self) -> None:
        features: dict = {}  # the classifier is trained once per dataset, shared by the runs
        for path in self.paths:
            if self._stop.is_set():
                break
            try:
                result = measure_run(path, n=self.n, features=features,
                                     progress=lambda text, name=path.name: self.status.emit(f"{name}: {text}"),
                                     cancelled=self._stop.is_set)
            except Cancelled:
                break
            except (*PERSON_ERRORS, ValueError, OSError) as exc:
                self.failed.emit(str(path), str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - one broken run must not stop the others
                self.failed.emit(str(path), f"{type(exc).__name__}: {exc}")
                continue
            self.measured.emit(str(path), result)


class ComparePanel(Panel):
    panel_id = "compare"
    title = "Compare"
    area = RIGHT
    tab_with = "gallery"

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.facts: list[RunFacts] = []
        self.measured: dict[Path, object] = {}
        self.thread: MeasureThread | None = None

        self.summary = QLabel("Select two or more runs in the Runs panel and press Compare.")
        self.summary.setWordWrap(True)
        self.n_box = QSpinBox(minimum=16, maximum=2000, value=128, singleStep=16)
        self.n_box.setPrefix("from ")
        self.n_box.setSuffix(" samples")
        self.n_box.setToolTip("Images drawn per run for the timing and quality measures")
        self.measure_button = QPushButton("Measure samples")
        self.measure_button.setToolTip("Load each run's model and draw samples: parameters, time per image, and "
                                       "for data with class subfolders the Fréchet distance (lower is better) "
                                       "and classes covered, in the feature space of a small classifier of the data")
        self.cancel_button = QPushButton("Cancel")
        self.refresh_button = QPushButton("Refresh")
        self.status = QLabel()
        self.status.setStyleSheet("color: #52606d;")

        self.table = QTableWidget(0, 0)
        self.table.setObjectName("compare_table")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(22)
        # as wide as the dock allows, never wider: a long run name must not push the other panels away
        self.table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)

        self.measure_box = QComboBox()
        self.measure_box.setToolTip("The logged measure to draw for every run")
        self.axis_box = QComboBox()
        self.axis_box.addItems(list(X_AXES))
        self.axis_box.setToolTip("Steps, or training time: a family that is slower per step pays for it here")
        self.plot_widget = pg.PlotWidget(background="w")
        self.plot = self.plot_widget.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.legend = QLabel()
        self.legend.setWordWrap(True)

        self.thumbs = QWidget()
        self.thumbs_row = QHBoxLayout(self.thumbs)
        self.thumbs_row.setContentsMargins(0, 0, 0, 0)
        thumbs_scroll = QScrollArea()
        thumbs_scroll.setWidget(self.thumbs)
        thumbs_scroll.setWidgetResizable(True)
        thumbs_scroll.setMinimumHeight(THUMB + 40)

        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.refresh_button)
        measure_row = QHBoxLayout()
        measure_row.addWidget(self.measure_button)
        measure_row.addWidget(self.n_box)
        measure_row.addWidget(self.cancel_button)
        measure_row.addWidget(self.status, 1)
        plot_row = QHBoxLayout()
        plot_row.addWidget(QLabel("Plot"))
        plot_row.addWidget(self.measure_box, 1)
        plot_row.addWidget(QLabel("against"))
        plot_row.addWidget(self.axis_box)
        curves = QWidget()
        curves_layout = QVBoxLayout(curves)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addLayout(plot_row)
        curves_layout.addWidget(self.legend)
        curves_layout.addWidget(self.plot_widget, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(curves)
        split.addWidget(thumbs_scroll)
        split.setSizes([250, 250, THUMB + 50])  # every part in view; the splitter handles give any one more
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(measure_row)
        layout.addWidget(split, 1)

        self.measure_button.clicked.connect(self.measure)
        self.cancel_button.clicked.connect(self.cancel)
        self.refresh_button.clicked.connect(self.refresh)
        self.measure_box.currentTextChanged.connect(self._draw)
        self.axis_box.currentTextChanged.connect(self._draw)
        state.compare_requested.connect(self.compare)
        state.run_ended.connect(self._after_run)
        self._update_buttons()

    # --- commands ----------------------------------------------------------------------------------
    def compare(self, paths) -> None:
        """Show these runs side by side (and bring the panel to the front)."""
        self.cancel()
        self.measured.clear()
        self._load([Path(p) for p in paths])
        dock = self.parentWidget()
        if dock is not None:
            dock.show()
            dock.raise_()

    def refresh(self) -> None:
        """Read the run folders again (a run may have trained further)."""
        self._load([f.path for f in self.facts])

    def _after_run(self) -> None:
        # a compared run may be the one that just ended: its status, steps and time have moved on
        if self.facts and not self.measuring:
            self.refresh()

    def _load(self, paths: list[Path]) -> None:
        facts, problems = [], []
        for path in paths:
            try:
                facts.append(run_facts(path))
            except (ValueError, OSError) as exc:
                problems.append(f"{path.name}: {exc}")
        self.facts = facts
        if problems:
            self.state.message.emit("warning", "Some runs cannot be compared: " + "; ".join(problems), "")
        note = mixed_data_note(facts)
        text = (f"{len(facts)} run{'s' if len(facts) != 1 else ''}" if facts
                else "Select two or more runs in the Runs panel and press Compare.")
        self.summary.setText(text + (f" · note: {note}" if note else ""))
        self._fill_table()
        chosen = self.measure_box.currentText()
        self.measure_box.blockSignals(True)
        self.measure_box.clear()
        names = common_measures(facts)
        self.measure_box.addItems(names)
        if chosen in names:
            self.measure_box.setCurrentText(chosen)
        elif "val/bits_per_dim" in names:
            self.measure_box.setCurrentText("val/bits_per_dim")
        self.measure_box.blockSignals(False)
        self._draw()
        self._fill_thumbs()
        self._update_buttons()

    def measure(self) -> None:
        if not self.facts or self.measuring:
            return
        self.thread = MeasureThread([f.path for f in self.facts], self.n_box.value())
        self.thread.status.connect(self.status.setText)
        self.thread.measured.connect(self._on_measured)
        self.thread.failed.connect(self._on_failed)
        self.thread.finished.connect(self._on_thread_done)
        self.status.setText("starting…")
        self.thread.start()
        self._update_buttons()

    def cancel(self) -> None:
        if self.thread is not None:
            self.thread.cancel()

    @property
    def measuring(self) -> bool:
        return self.thread is not None and self.thread.isRunning()

    # --- results -----------------------------------------------------------------------------------
    def _on_measured(self, path: str, result) -> None:
        self.measured[Path(path)] = result
        self._fill_table()
        if result.note:
            self.status.setText(result.note)

    def _on_failed(self, path: str, message: str) -> None:
        self.state.message.emit("warning", f"Cannot measure {Path(path).name}: {message}", "")

    def _on_thread_done(self) -> None:
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.deleteLater()
        done = sum(f.path in self.measured for f in self.facts)
        self.status.setText(f"measured {done} of {count(len(self.facts), 'run')}")
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.measuring
        self.measure_button.setEnabled(bool(self.facts) and not busy)
        self.cancel_button.setEnabled(busy)
        self.refresh_button.setEnabled(bool(self.facts) and not busy)

    # --- drawing -----------------------------------------------------------------------------------
    def _fill_table(self) -> None:
        # One column per run, one row per measure: reads like a comparison sheet and stays narrow
        # for the three or four runs people usually put side by side.
        headers, rows = table(self.facts, self.measured)
        self.table.clear()
        self.table.setColumnCount(len(rows))
        self.table.setRowCount(len(headers) - 1)
        self.table.setHorizontalHeaderLabels([row[0] for row in rows])
        self.table.setVerticalHeaderLabels(headers[1:])
        for c, row in enumerate(rows):
            self.table.horizontalHeaderItem(c).setToolTip(f"{self.facts[c].path}\n{self.facts[c].dataset}")
            for r, text in enumerate(row[1:]):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()

    def cell(self, run: str, header: str) -> str:
        """The table's text for one run and measure (what a person reads)."""
        runs = [self.table.horizontalHeaderItem(c).text() for c in range(self.table.columnCount())]
        measures = [self.table.verticalHeaderItem(r).text() for r in range(self.table.rowCount())]
        if header == "Run":
            return runs[runs.index(run)]
        return self.table.item(measures.index(header), runs.index(run)).text()

    def _draw(self, *_args) -> None:
        self.plot.clear()
        name = self.measure_box.currentText()
        column = X_AXES.get(self.axis_box.currentText(), 0)
        self.plot.setLabel("bottom", self.axis_box.currentText())
        self.plot.setLabel("left", name)
        entries = []
        for i, f in enumerate(self.facts):
            curve = f.curves.get(name)
            colour = pg.mkColor(pg.intColor(i, hues=max(len(self.facts), 3), maxValue=220))
            entries.append(f"<span style='color:{colour.name()}'>&#9644;</span>&nbsp;{f.name} ({f.family})"
                           + ("" if curve is not None else " – not logged"))
            if curve is not None and len(curve):
                self.plot.plot(curve[:, column], curve[:, 2], pen=pg.mkPen(colour, width=2),
                               symbol="o" if len(curve) < 30 else None, symbolSize=5, symbolBrush=colour)
        self.legend.setText(" &nbsp; ".join(entries))

    def drawn_curves(self) -> int:
        return sum(1 for item in self.plot.listDataItems() if item.getData()[0] is not None)

    def _fill_thumbs(self) -> None:
        while self.thumbs_row.count():
            widget = self.thumbs_row.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        for f in self.facts:
            box = QLabel()
            box.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
            pixmap = QPixmap(str(f.thumbnail)) if f.thumbnail is not None else QPixmap()
            if not pixmap.isNull():
                box.setPixmap(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.FastTransformation))
            else:
                box.setText("no samples yet")
            caption = QLabel(f"{f.name}\n{f.family}, step {f.step:,}")
            caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            holder = QWidget()
            column = QVBoxLayout(holder)
            column.setContentsMargins(2, 2, 2, 2)
            column.addWidget(box)
            column.addWidget(caption)
            self.thumbs_row.addWidget(holder)
        self.thumbs_row.addStretch(1)

    def shutdown(self) -> None:
        if self.thread is not None:
            self.thread.cancel()
            self.thread.wait(30_000)
        self.plot_widget.close()
