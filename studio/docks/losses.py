"""Losses panel: live pyqtgraph curves of every loss and metric, x = step, with EMA smoothing.

Points go into preallocated numpy buffers as events arrive; the curves are redrawn by a timer
(only when something changed), with peak downsampling and clip-to-view, so hundreds of thousands
of points stay smooth. Clicking a name in a legend hides or shows that curve.
"""

from __future__ import annotations

import html
from urllib.parse import quote, unquote

from PySide6 import QtCore  # noqa: F401 - imported before pyqtgraph so it binds to PySide6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout

import pyqtgraph as pg

from engines.train import events as ev

from ..series import Series
from .base import RIGHT, Panel

LOD_POINTS = 4096  # points per curve handed to pyqtgraph at most: about two per pixel column of a wide plot
REDRAW_MS = 250  # 4 Hz: live enough for a loss curve, and each plot repaint costs ~10 ms on a slow CPU


def slider_to_weight(value: int) -> float:
    """0..100 -> EMA weight 0..0.999, spaced so the useful range (0.9-0.99) gets most of the slider."""
    return 0.0 if value <= 0 else 1.0 - 10 ** (-3.0 * value / 100.0)


class CurveSet:
    """Named series on one plot: a faint raw curve and a bold smoothed one per name."""

    def __init__(self, plot: pg.PlotItem, legend: QLabel, start_hidden=lambda name: False):
        self.plot = plot
        self.legend = legend
        self.start_hidden = start_hidden  # names drawn only once the person asks (e.g. per-class counts)
        # Names the person clicked off in the legend. Kept across runs: someone who hid the per-class
        # counts once does not want them back at every start. Hidden curves do not set the y range.
        self.hidden: set[str] = set()
        self.shown: set[str] = set()  # names the person clicked on: start_hidden no longer applies
        legend.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        legend.setToolTip("Click a name to hide or show its curve")
        legend.linkActivated.connect(self.toggle)
        self.colours: dict[str, str] = {}
        self.series: dict[str, Series] = {}
        self.raw: dict[str, pg.PlotDataItem] = {}
        self.smooth: dict[str, pg.PlotDataItem] = {}
        self.weight = 0.0
        self.dirty = False
        # zooming or panning shows another stretch of a long series: pick its points again
        plot.getViewBox().sigXRangeChanged.connect(self._range_changed)

    def _range_changed(self, *_):
        if any(s.n > LOD_POINTS for s in self.series.values()):
            self.dirty = True

    def _curve(self, name: str, index: int) -> None:
        colour = pg.intColor(index, hues=8, values=1, maxValue=220)
        c = pg.mkColor(colour)
        # faint = the colour mixed with the white background (opaque: no blending cost when painting)
        faint = pg.mkColor(int(c.red() * 0.3 + 178.5), int(c.green() * 0.3 + 178.5), int(c.blue() * 0.3 + 178.5))
        raw = self.plot.plot(pen=pg.mkPen(faint, width=1))
        smooth = self.plot.plot(pen=pg.mkPen(colour, width=2))
        self.colours[name] = pg.mkColor(colour).name()
        self._update_legend()
        for item in (raw, smooth):
            item.setDownsampling(auto=True, method="peak")
            # One sample per pixel column (peak mode keeps its min and max): the same envelope as the
            # default five per pixel, with a fifth of the vertices to paint.
            item.opts["autoDownsampleFactor"] = 1.0
            item.setClipToView(True)
            item.setSkipFiniteCheck(True)
        self.raw[name], self.smooth[name] = raw, smooth
        if self.start_hidden(name) and name not in self.shown:
            self.hidden.add(name)
        if name in self.hidden:
            raw.setVisible(False)
            smooth.setVisible(False)
        series = Series()
        series.weight = self.weight
        self.series[name] = series

    def _update_legend(self) -> None:
        # A Qt label, not a pyqtgraph LegendItem: legend anchors outlive their view box on teardown.
        # entries are joined by ordinary spaces so a long legend wraps instead of widening the window
        self.legend.setText(" &nbsp;".join(self._entry(name, c) for name, c in self.colours.items()))

    def _entry(self, name: str, colour: str) -> str:
        text = html.escape(name)
        if name in self.hidden:
            return (f"<a href='{quote(name)}' style='color:#aaaaaa; text-decoration:line-through'>"
                    f"&#9644;&nbsp;{text}</a>")
        return (f"<a href='{quote(name)}' style='color:black; text-decoration:none'>"
                f"<span style='color:{colour}'>&#9644;</span>&nbsp;{text}</a>")

    def toggle(self, link: str) -> None:
        """Hide a shown curve or show a hidden one (the legend's links carry the quoted name)."""
        name = unquote(link)
        if name not in self.series:
            return
        self.hidden.symmetric_difference_update({name})
        (self.shown.add if name not in self.hidden else self.shown.discard)(name)
        for item in (self.raw[name], self.smooth[name]):
            item.setVisible(name not in self.hidden)
        self._update_legend()
        view = self.plot.getViewBox()
        view.enableAutoRange()
        view.updateAutoRange()  # re-fit to what is shown now: visibility alone does not trigger it

    def is_shown(self, name: str) -> bool:
        return name in self.series and name not in self.hidden

    def add(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            if name not in self.series:
                self._curve(name, len(self.series))
            self.series[name].append(step, float(value))
        self.dirty = True

    def truncate_after(self, step: int) -> None:
        for s in self.series.values():
            s.truncate_after(step)
        self.dirty = True

    def set_weight(self, weight: float) -> None:
        self.weight = weight
        for s in self.series.values():
            s.set_weight(weight)
        self.dirty = True

    def redraw(self, show_raw: bool) -> None:
        if not self.dirty:
            return
        self.dirty = False
        # Hand each curve only what the visible x range can show (a few thousand points, see
        # Series.display): pyqtgraph would otherwise clip and downsample every full array on each
        # redraw and again on each range change, tens of ms per curve for a long run.
        lo, hi = self.plot.getViewBox().viewRange()[0]
        for name, s in self.series.items():
            self.smooth[name].setData(*s.display(lo, hi, LOD_POINTS, smoothed=self.weight > 0))
            if show_raw and self.weight > 0:
                self.raw[name].setData(*s.display(lo, hi, LOD_POINTS))
            else:
                self.raw[name].setData([], [])

    def clear(self) -> None:
        self.plot.clear()
        self.colours.clear()
        self._update_legend()
        self.series.clear()
        self.raw.clear()
        self.smooth.clear()
        self.dirty = False

    def points(self, name: str) -> int:
        s = self.series.get(name)
        return 0 if s is None else s.n


class LossesPanel(Panel):
    panel_id = "losses"
    title = "Losses"
    area = RIGHT

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.loss_plot = self.view.addPlot(row=0, col=0)
        self.metric_plot = self.view.addPlot(row=1, col=0)
        for plot, label in ((self.loss_plot, "loss"), (self.metric_plot, "metric")):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("left", label)
        self.loss_plot.setLabel("bottom", "step")
        self.metric_plot.setLabel("bottom", "step")
        self.metric_plot.setXLink(self.loss_plot)
        self.metric_plot.hide()
        self.loss_legend = QLabel()
        self.metric_legend = QLabel()
        # A gradient norm is a diagnostic on its own scale (tens, against a loss of ~2): listed, drawn
        # when clicked, so the losses keep the plot's range
        self.losses = CurveSet(self.loss_plot, self.loss_legend, start_hidden=lambda name: name.endswith("grad_norm"))
        # Per-class sample counts (class_count/3...) are ten or more curves on another scale: listed
        # in the legend, drawn when clicked. Held-out measures (val/...) always show.
        self.metrics = CurveSet(self.metric_plot, self.metric_legend,
                                start_hidden=lambda name: "/" in name and not name.startswith("val/"))

        self.smoothing = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=40)
        self.smoothing.setObjectName("smoothing")
        self.smoothing.setMinimumWidth(60)  # a narrow dock must not squeeze it to nothing
        self.smoothing.setToolTip("Exponential moving average over logged points; left: raw values")
        self.smoothing_label = QLabel()
        self.show_raw = QCheckBox("raw", checked=True)
        self.show_raw.setToolTip("Also draw the unsmoothed values, faintly")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing, 1)
        controls.addWidget(self.smoothing_label)
        controls.addWidget(self.show_raw)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        legends = QVBoxLayout()
        for legend in (self.loss_legend, self.metric_legend):
            legend.setWordWrap(True)
            legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            legends.addWidget(legend)
        layout.addLayout(legends)
        layout.addWidget(self.view, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        self.show_raw.toggled.connect(self._mark_dirty)
        self._smoothing_changed(self.smoothing.value())

        state.run_started.connect(self._on_started)
        state.progress.connect(self._on_progress)
        state.metrics.connect(self._on_metrics)
        state.run_opened.connect(self._on_opened)
        state.train_warning.connect(self._on_warning)

    # --- events -----------------------------------------------------------------------------------
    def _on_started(self, event: ev.Started) -> None:
        if event.start_step == 0:
            self.clear()

    def _on_opened(self, history) -> None:
        """A past run: its logged curves from metrics.jsonl."""
        self.clear()
        for step, losses in history.losses:
            self.losses.add(step, losses)
        for step, values in history.metrics:
            self.metrics.add(step, values)
        if history.metrics:
            self.metric_plot.show()

    def _on_warning(self, event: ev.TrainWarning) -> None:
        if event.kind == "rollback":  # training went back to event.step: the later points are history
            self.losses.truncate_after(event.step)
            self.metrics.truncate_after(event.step)

    def _on_progress(self, event: ev.Progress) -> None:
        self.losses.add(event.step, event.losses)

    def _on_metrics(self, event: ev.Metrics) -> None:
        self.metrics.add(event.step, event.values)
        self.metric_plot.show()

    # --- drawing ----------------------------------------------------------------------------------
    def _smoothing_changed(self, value: int) -> None:
        weight = slider_to_weight(value)
        self.smoothing_label.setText(f"{weight:.3f}" if weight else "off")
        self.losses.set_weight(weight)
        self.metrics.set_weight(weight)

    def _mark_dirty(self, *_):
        self.losses.dirty = self.metrics.dirty = True

    def redraw(self) -> None:
        raw = self.show_raw.isChecked()
        self.losses.redraw(raw)
        self.metrics.redraw(raw)

    def clear(self) -> None:
        self.losses.clear()
        self.metrics.clear()
        self.metric_plot.hide()

    def point_count(self, name: str) -> int:
        return max(self.losses.points(name), self.metrics.points(name))

    def drawn_points(self, name: str) -> int:
        """Points the curve actually holds (what was drawn at the last redraw)."""
        for curves in (self.losses.smooth, self.metrics.smooth):
            if name in curves:
                x, _ = curves[name].getOriginalDataset()
                return 0 if x is None else len(x)
        return 0

    def shutdown(self) -> None:
        self.timer.stop()
        # Tear the scene down while every item still exists: left to C++ destruction, the legends'
        # anchors get geometry signals from view boxes that are already gone.
        self.view.close()
