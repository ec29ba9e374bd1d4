"""Compare panel: runs side by side, so the trade-offs between families show on the person's data.

The table and the curves come from the run folders (engines/compare.py: milliseconds). "Measure
samples" loads each run's model and draws from it in a background thread: parameters, time per
image and sample quality (Fréchet distance, KID, precision, recall, density, coverage, memorised;
engines/metrics.py), at the newest checkpoint or at every kept checkpoint, which draws quality
against training time for every run: which family is good fastest, which ends best. Each run's
samples sit beside their nearest training images; the table exports as CSV, the chart as PNG. The
newest sample grid of each run sits underneath for the eye.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from PySide6 import QtCore  # noqa: F401 - imported before pyqtgraph so it binds to PySide6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QSizePolicy, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

import pyqtgraph as pg

from engines.compare import (Cancelled, RunFacts, at, checkpoints_with_time, common_measures, measure_run,
                             mixed_data_note, run_facts, table, write_csv)
from engines.imaging import make_grid

from .. import dialogs
from ..images import file_thumbnail, to_pixmap

from ..widgets.plots import CompactPlot
from ..background import Worker, person_message
from ..flow import FlowLayout
from .base import RIGHT, Panel
from engines.words import count

THUMB = 120
X_AXES = {"step": 0, "training time (s)": 1}  # column of RunFacts.curves rows
# measured quality figures the chart can draw against training time: label -> Measured field
QUALITY = {"KID ↓": "kid", "Fréchet ↓": "frechet", "precision ↑": "precision", "recall ↑": "recall",
           "density": "density", "coverage ↑": "coverage", "memorised": "memorised"}
LINE_UP = {"each run's end": None, "equal steps": "step", "equal training time": "time"}
MAX_POINTS = 6  # checkpoints measured per run for the quality chart (the newest ones)


def measure_runs(paths: list[Path], n: int, over_time: bool = False, report=None, cancelled=None):
    """measure_run for each run in turn (on a background Worker), reporting ("status", text),
    ("point", run, Measured) for an earlier checkpoint (the quality chart), ("measured", run, Measured)
    for the newest, ("failed", run, message): one broken run does not stop the others."""
    features: dict = {}  # the classifier is trained once per dataset, shared by the runs
    for path in paths:
        if cancelled():
            return
        try:
            earlier = [step for step, _ in checkpoints_with_time(path)][-MAX_POINTS:-1] if over_time else []
            for step in earlier:
                done = measure_run(path, n=n, features=features, checkpoint=step,
                                   progress=lambda text, name=path.name, at=step: report(
                                       ("status", f"{name} (step {at}): {text}")),
                                   cancelled=cancelled)
                report(("point", str(path), done))
            result = measure_run(path, n=n, features=features,
                                 progress=lambda text, name=path.name: report(("status", f"{name}: {text}")),
                                 cancelled=cancelled)
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001 - one broken run must not stop the others
            report(("failed", str(path), person_message(exc, (ValueError, OSError))[0]))
            continue
        report(("measured", str(path), result))


class ComparePanel(Panel):
    panel_id = "compare"
    title = "Compare"
    area = RIGHT
    tab_with = "gallery"

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.facts: list[RunFacts] = []
        self.measured: dict[Path, object] = {}
        self.points: dict[Path, list] = {}   # every measured checkpoint of each run (quality chart)
        self.thread: Worker | None = None

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
        self.over_time_box = QCheckBox("at every checkpoint")
        self.over_time_box.setChecked(True)
        self.over_time_box.setToolTip(f"Also measure up to {MAX_POINTS - 1} earlier checkpoints of each run, to plot "
                                      f"quality against training time (slower: samples are drawn at each one)")
        self.cancel_button = QPushButton("Cancel")
        self.line_up_box = QComboBox()
        self.line_up_box.setObjectName("line_up")
        self.line_up_box.addItems(list(LINE_UP))
        self.line_up_box.setToolTip("The logged figures in the table: at each run's end, or every run at the same step "
                                    "or the same training time (as far as the shortest run got), as "
                                    "`genstudio compare --at-step / --at-time` does")
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
        self.plot_widget = CompactPlot(background="w")
        self.plot = self.plot_widget.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.legend = QLabel()
        self.legend.setWordWrap(True)

        # quality against training time, from the measured checkpoints
        self.quality_box = QComboBox()
        self.quality_box.addItems(list(QUALITY))
        self.quality_box.setToolTip("The measured sample-quality figure to draw against training time")
        self.quality_widget = CompactPlot(background="w")
        self.quality_plot = self.quality_widget.getPlotItem()
        self.quality_plot.showGrid(x=True, y=True, alpha=0.2)
        self.quality_plot.setLabel("bottom", "training time (s)")
        self.quality_plot.addLegend(offset=(-10, 10))
        self.csv_button = QPushButton("Table as CSV…")
        self.png_button = QPushButton("Chart as PNG…")
        # each sample beside its nearest training image (memorisation, by eye)
        self.nearest_run = QComboBox()
        self.nearest_run.setToolTip("Whose samples to show beside their nearest training images")
        self.nearest_view = QLabel("Measure samples to see each sample beside its nearest training image.")
        self.nearest_view.setObjectName("nearest_view")
        self.nearest_view.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.nearest_view.setWordWrap(True)

        self.thumbs = QWidget()
        self.thumbs_row = QHBoxLayout(self.thumbs)
        self.thumbs_row.setContentsMargins(0, 0, 0, 0)
        thumbs_scroll = QScrollArea()
        thumbs_scroll.setWidget(self.thumbs)
        thumbs_scroll.setWidgetResizable(True)
        thumbs_scroll.setMinimumHeight(THUMB + 40)

        # rows wrap in a narrow dock (FlowLayout) instead of pushing the panel wider than its dock
        top = FlowLayout()
        top.addWidget(QLabel("Table at"))
        top.addWidget(self.line_up_box)
        top.addWidget(self.refresh_button)
        measure_row = FlowLayout()
        measure_row.addWidget(self.measure_button)
        measure_row.addWidget(self.n_box)
        measure_row.addWidget(self.over_time_box)
        measure_row.addWidget(self.cancel_button)
        measure_row.addWidget(self.status)
        plot_row = FlowLayout()
        plot_row.addWidget(QLabel("Plot"))
        plot_row.addWidget(self.measure_box)
        plot_row.addWidget(QLabel("against"))
        plot_row.addWidget(self.axis_box)
        curves = QWidget()
        curves_layout = QVBoxLayout(curves)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addLayout(plot_row)
        curves_layout.addWidget(self.legend)
        curves_layout.addWidget(self.plot_widget, 1)
        quality = QWidget()
        quality_layout = QVBoxLayout(quality)
        quality_layout.setContentsMargins(0, 0, 0, 0)
        quality_row = FlowLayout()
        quality_row.addWidget(QLabel("Sample quality"))
        quality_row.addWidget(self.quality_box)
        quality_row.addWidget(QLabel("against training time"))
        quality_row.addWidget(self.csv_button)
        quality_row.addWidget(self.png_button)
        quality_layout.addLayout(quality_row)
        quality_layout.addWidget(self.quality_widget, 1)
        nearest = QWidget()
        nearest_layout = QVBoxLayout(nearest)
        nearest_layout.setContentsMargins(0, 0, 0, 0)
        nearest_row = FlowLayout()
        nearest_row.addWidget(QLabel("Samples (top) and their nearest training images (below) of"))
        nearest_row.addWidget(self.nearest_run)
        nearest_layout.addLayout(nearest_row)
        nearest_scroll = QScrollArea()
        nearest_scroll.setWidget(self.nearest_view)
        nearest_scroll.setWidgetResizable(True)
        nearest_layout.addWidget(nearest_scroll, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(curves)
        split.addWidget(quality)
        split.addWidget(nearest)
        split.addWidget(thumbs_scroll)
        split.setSizes([220, 200, 200, 140, THUMB + 50])  # every part in view; the handles give any one more
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addLayout(top)
        layout.addLayout(measure_row)
        layout.addWidget(split, 1)

        self.measure_button.clicked.connect(self.measure)
        self.cancel_button.clicked.connect(self.cancel)
        self.refresh_button.clicked.connect(self.refresh)
        self.measure_box.currentTextChanged.connect(self._draw)
        self.axis_box.currentTextChanged.connect(self._draw)
        self.quality_box.currentTextChanged.connect(self._draw_quality)
        self.line_up_box.currentTextChanged.connect(self._fill_table)
        self.nearest_run.currentIndexChanged.connect(self._show_nearest)
        self.csv_button.clicked.connect(self._ask_csv)
        self.png_button.clicked.connect(self._ask_png)
        state.compare_requested.connect(self.compare)
        state.run_ended.connect(self._after_run)
        self._update_buttons()

    # --- commands ----------------------------------------------------------------------------------
    def compare(self, paths) -> None:
        """Show these runs side by side (and bring the panel to the front)."""
        self.cancel()
        self.measured.clear()
        self.points.clear()
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
        self._draw_quality()
        self._fill_nearest_runs()
        self._fill_thumbs()
        self._update_buttons()

    def measure(self) -> None:
        if not self.facts or self.measuring:
            return
        self.points = {f.path: [] for f in self.facts}
        self.thread = Worker(measure_runs, [f.path for f in self.facts], self.n_box.value(),
                             self.over_time_box.isChecked())
        self.thread.yielded.connect(self._on_report)
        self.thread.finished.connect(self._on_thread_done)
        self.status.setText("starting…")
        self.thread.start()
        self._update_buttons()

    def cancel(self) -> None:
        if self.thread is not None:
            self.thread.cancel()

    @property
    def measuring(self) -> bool:
        # until the thread's `finished` reaches us: its last results are queued before it, so a
        # caller that waits for this to turn False sees every result
        return self.thread is not None

    # --- results -----------------------------------------------------------------------------------
    def _on_point(self, path: str, result) -> None:
        self.points.setdefault(Path(path), []).append(result)
        self._draw_quality()

    def _on_measured(self, path: str, result) -> None:
        self.measured[Path(path)] = result
        self._on_point(path, result)
        self._fill_table()
        self._fill_nearest_runs()
        if result.note:
            self.status.setText(result.note)
        elif result.features:
            method = f"; KID {result.kid_method}" if getattr(result, "kid_method", "") else ""
            self.status.setText(f"quality in the feature space of: {result.features}{method}")

    def _on_failed(self, path: str, message: str) -> None:
        self.state.message.emit("warning", f"Cannot measure {Path(path).name}: {message}", "")

    def _on_report(self, report: tuple) -> None:
        kind, *args = report
        {"status": self.status.setText, "point": self._on_point, "measured": self._on_measured,
         "failed": self._on_failed}[kind](*args)

    def _on_thread_done(self) -> None:
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.deleteLater()
        done = sum(f.path in self.measured for f in self.facts)
        spaces = sorted({m.features for m in self.measured.values() if m.features})
        self.status.setText(f"measured {done} of {count(len(self.facts), 'run')}"
                            + (f"; quality in the feature space of: {'; '.join(spaces)}" if spaces else ""))
        self.quality_plot.setTitle(f"features: {'; '.join(spaces)}" if spaces else None, size="8pt")
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.measuring
        self.measure_button.setEnabled(bool(self.facts) and not busy)
        self.csv_button.setEnabled(bool(self.facts))
        self.png_button.setEnabled(bool(self.facts))
        self.cancel_button.setEnabled(busy)
        self.refresh_button.setEnabled(bool(self.facts) and not busy)

    # --- drawing -----------------------------------------------------------------------------------
    def _fill_table(self) -> None:
        # One column per run, one row per measure: reads like a comparison sheet and stays narrow
        # for the three or four runs people usually put side by side.
        headers, rows = table(self.lined_up(), self.measured)
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

    def lined_up(self) -> list[RunFacts]:
        """The runs as the table shows them: as they are, or cut at the shortest run's step or time."""
        how = LINE_UP.get(self.line_up_box.currentText())
        if how is None or not self.facts:
            return self.facts
        if how == "step":
            return [at(f, step=min(g.step for g in self.facts)) for f in self.facts]
        # each run's last logged training time (its recorded total can be later than its last logged row:
        # cut at that, the longer run showed a time past the shorter one's)
        ends = [at(g, seconds=g.train_seconds).train_seconds for g in self.facts if g.train_seconds]
        times = [t for t in ends if t]
        return [at(f, seconds=min(times)) for f in self.facts] if times else self.facts

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

    def _draw_quality(self, *_args) -> None:
        """Each run's measured checkpoints: quality against training time (seconds of that checkpoint)."""
        self.quality_plot.clear()
        label = self.quality_box.currentText()
        name = QUALITY.get(label, "kid")
        self.quality_plot.setLabel("left", label)
        for i, f in enumerate(self.facts):
            pts = sorted((m.train_seconds, getattr(m, name)) for m in self.points.get(f.path, [])
                         if m.train_seconds is not None and getattr(m, name) is not None)
            if not pts:
                continue
            colour = pg.mkColor(pg.intColor(i, hues=max(len(self.facts), 3), maxValue=220))
            xs, ys = zip(*pts)
            self.quality_plot.plot(list(xs), list(ys), pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=7,
                                   symbolBrush=colour, name=f"{f.name} ({f.family})")

    def quality_points(self, path: Path, name: str = "kid") -> list[tuple[float, float]]:
        """(training seconds, value) drawn for one run, oldest first."""
        return sorted((m.train_seconds, getattr(m, name)) for m in self.points.get(Path(path), [])
                      if m.train_seconds is not None and getattr(m, name) is not None)

    def _fill_nearest_runs(self) -> None:
        chosen = self.nearest_run.currentData()
        self.nearest_run.blockSignals(True)
        self.nearest_run.clear()
        for f in self.facts:
            m = self.measured.get(f.path)
            if m is not None and m.samples is not None and m.nearest_images is not None:
                self.nearest_run.addItem(f"{f.name} ({f.family})", str(f.path))
        index = self.nearest_run.findData(chosen)
        self.nearest_run.setCurrentIndex(max(index, 0))
        self.nearest_run.blockSignals(False)
        self._show_nearest()

    def _show_nearest(self, *_args) -> None:
        path = self.nearest_run.currentData()
        m = self.measured.get(Path(path)) if path else None
        if m is None or m.samples is None or m.nearest_images is None:
            self.nearest_view.setPixmap(QPixmap())
            self.nearest_view.setText("Measure samples to see each sample beside its nearest training image.")
            return
        # two rows: samples, then the nearest training image under each (a marked pair counts as memorised)
        samples, nearest = np.asarray(m.samples), np.asarray(m.nearest_images)
        if samples.shape[-1] != nearest.shape[-1]:
            samples, nearest = (np.repeat(a, 3, -1) if a.shape[-1] == 1 else a for a in (samples, nearest))
        grid = make_grid(np.concatenate([samples, nearest]), columns=len(samples))
        pixmap = to_pixmap(grid)
        scale = max(1, min(4, 720 // max(1, grid.shape[1])))
        self.nearest_view.setPixmap(pixmap.scaled(pixmap.width() * scale, pixmap.height() * scale,
                                                  Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.FastTransformation))
        flagged = int(np.asarray(m.flagged).sum()) if m.flagged is not None else 0
        self.nearest_view.setToolTip(f"{flagged} of these {len(samples)} samples count as memorised; "
                                     f"{m.memorised:.0%} of all {m.n} ({m.features})")

    # --- export ------------------------------------------------------------------------------------
    def export_csv(self, path) -> Path:
        """The comparison table (every measure of every run) as CSV."""
        headers, rows = table(self.lined_up(), self.measured)
        return write_csv(path, headers, rows)

    def export_png(self, path) -> Path:
        """The quality-against-training-time chart as it is shown."""
        path = Path(path)
        if not self.quality_widget.grab().save(str(path), "PNG"):
            raise OSError(f"cannot write {path}")
        return path

    def _ask_csv(self) -> None:
        path = dialogs.save_file(self, "Save the comparison table", "export", "comparison.csv", "CSV (*.csv)")
        if path:
            self._export(self.export_csv, path)

    def _ask_png(self) -> None:
        path = dialogs.save_file(self, "Save the quality chart", "export", "quality.png", "PNG image (*.png)")
        if path:
            self._export(self.export_png, path)

    def _export(self, write, path: str) -> None:
        try:
            done = write(path)
        except (OSError, ValueError) as exc:
            self.state.message.emit("warning", f"Cannot save {path}: {exc}", "")
            return
        self.state.message.emit("info", f"Saved {done}", "")

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
            pixmap = file_thumbnail(f.thumbnail, THUMB) if f.thumbnail is not None else QPixmap()
            if not pixmap.isNull():
                box.setPixmap(pixmap)
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
        self.quality_widget.close()
