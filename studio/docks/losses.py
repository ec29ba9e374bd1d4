"""Losses panel: live pyqtgraph curves of every loss and metric, x = step, read as TensorBoard users
expect: a debiased EMA over the faint raw values, the y range from the visible data with outliers
ignored (a first loss of 700,000 does not flatten the rest), a log-scale toggle, plain numbers on the
axis (no "x0.001" prefix), a palette that never repeats a style, counters (d_saturated_steps, class
counts) and gradient norms listed but drawn only on a click, and no plot without a curve to show.

Points go into preallocated numpy buffers as events arrive; the curves are redrawn by a timer
(only when something changed), with peak downsampling and clip-to-view, so hundreds of thousands
of points stay smooth. The axes' ranges stay put while the data stays well inside them (x grows ahead of
the data), so a redraw repaints the curves without laying the axis text out again, and a long curve is
drawn 1 px wide. Clicking a name in a legend hides or shows that curve. The maths (smoothing,
range, palette) is Qt-free in studio/series.py.
"""

from __future__ import annotations

import html
from urllib.parse import quote, unquote

from PySide6 import QtCore  # noqa: F401 - imported before pyqtgraph so it binds to PySide6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout

import pyqtgraph as pg

from engines.train import events as ev

from ..series import ExtentCache, Series, curve_style, is_counter, padded_range, steady_range
from ..widgets.plots import PlotArea, plain_axes
from .base import RIGHT, Panel

LOD_POINTS = 4096  # points per curve handed to pyqtgraph at most: about two per pixel column of a wide plot
# A smoothed curve is drawn 2 px wide while it has at most this many points to draw, 1 px after: Qt strokes
# a wide line segment by segment (most of a long curve's painting), a 1 px one in a single cheap pass.
THICK_POINTS = 1000
GROUP_MIN = 3         # curves named prefix/0, prefix/1... listed as one legend entry from this many on
GROUP_LINK = "/*"     # a group entry's link: its prefix and this (no curve's name ends so)
# A run's first measures arrive together: their curves' plot items (a few ms each to make and add) are made
# this many names per event-loop turn, so the window keeps answering in between
CURVES_PER_TURN = 2
REDRAW_MS = 250  # 4 Hz, whatever the event rate: live enough for a loss curve
DEFAULT_SMOOTHING = 13  # slider position: weight 0.6, TensorBoard's default (little lag)
DEFAULT_WEIGHT = 0.6
DASH_STYLES = {"solid": Qt.PenStyle.SolidLine, "dash": Qt.PenStyle.DashLine, "dot": Qt.PenStyle.DotLine,
               "dashdot": Qt.PenStyle.DashDotLine}
DASH_GLYPHS = {"solid": "&#9644;", "dash": "&#9472; &#9472;", "dot": "&#183;&#183;&#183;", "dashdot": "&#9472;&#183;&#9472;"}


def slider_to_weight(value: int) -> float:
    """0..100 -> EMA weight 0..0.999, spaced so the useful range (0.9-0.99) gets most of the slider."""
    if value == DEFAULT_SMOOTHING:  # the curve gives 0.593 there; the default is TensorBoard's 0.6 exactly
        return DEFAULT_WEIGHT        # (still between its neighbours 0.563 and 0.617)
    return 0.0 if value <= 0 else 1.0 - 10 ** (-3.0 * value / 100.0)


class CurveSet:
    """Named series on one plot: a faint raw curve and a bold smoothed one per name."""

    def __init__(self, plot: pg.PlotItem, legend: QLabel, start_hidden=lambda name: False,
                 area: PlotArea | None = None):
        self.plot = plot
        self.area = area  # the view holding the plot: hides and shows it without collapsing the layout
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
        self.dashes: dict[str, str] = {}
        self.series: dict[str, Series] = {}
        self._extents: dict[str, ExtentCache] = {}   # each curve's y extent, kept between redraws
        self.raw: dict[str, pg.PlotDataItem] = {}
        self.smooth: dict[str, pg.PlotDataItem] = {}
        self.waiting: list[str] = []   # shown names whose items are still to be made (CURVES_PER_TURN)
        self._made_in_turn = 0
        self._turn_scheduled = False
        self.weight = 0.0
        self.dirty = False
        self.log = False
        # The y range follows the visible data (outliers ignored) until the person zooms or pans y
        # themselves; a legend click, the log toggle or the plot's "A" button hand it back.
        self.auto_y = True
        self.y_range: tuple[float, float] | None = None   # the y range this set last gave its plot
        view = plot.getViewBox()
        view.disableAutoRange()  # the panel sets both ranges (x: the data's steps, y: robust_range)
        plain_axes(plot)  # no "(x0.001)" beside a loss, and no re-layout of an axis label on each redraw
        # zooming or panning shows another stretch of the series: pick its points and its y range again
        view.sigXRangeChanged.connect(self._range_changed)
        view.sigRangeChangedManually.connect(self._changed_by_hand)

    def _range_changed(self, *_):
        self.dirty = True

    def _changed_by_hand(self, mask) -> None:
        if len(mask) > 1 and mask[1]:
            self.auto_y = False

    def fit_y(self) -> None:
        """Let the y range follow the visible data again (fitted afresh, not kept from before)."""
        self.auto_y = True
        self.y_range = None
        self.dirty = True

    def x_extent(self) -> tuple[float, float] | None:
        """First and last step of the curves shown."""
        shown = [s for name, s in self.series.items() if name not in self.hidden and s.n]
        if not shown:
            return None
        return min(float(s.xs.min()) for s in shown), max(float(s.xs.max()) for s in shown)

    def _curve(self, name: str, index: int) -> None:
        """A new name: its style, series and legend entry (the caller updates the legend); its plot items
        only once it is shown (see _items)."""
        self.colours[name], self.dashes[name] = curve_style(index)
        if self.start_hidden(name) and name not in self.shown:
            self.hidden.add(name)
        series = Series()
        series.weight = self.weight
        self.series[name] = series
        if name not in self.hidden:
            self.waiting.append(name)
            self._make_waiting()

    def _make_waiting(self) -> None:
        """Make the waiting curves' items, CURVES_PER_TURN names in this event-loop turn; the next turn
        makes the next ones. A curve is drawn from the first redraw after its items exist."""
        while self.waiting and self._made_in_turn < CURVES_PER_TURN:
            name = self.waiting.pop(0)
            if name in self.series and name not in self.hidden and name not in self.smooth:
                self._items(name)
                self._made_in_turn += 1
                self.dirty = True
        if not self._turn_scheduled and (self._made_in_turn or self.waiting):
            self._turn_scheduled = True
            QTimer.singleShot(0, self.legend, self._next_turn)   # dropped if the panel is gone

    def _next_turn(self) -> None:
        self._turn_scheduled = False
        self._made_in_turn = 0
        if self.waiting:
            self._make_waiting()

    def _items(self, name: str) -> None:
        """The curve's two plot items, made when it is first shown. A run's first measures arrive together
        (twenty names and more: per-class counts, gradient norms, counters) and most start hidden: made at
        once, their items took the GUI thread tens of milliseconds mid-run, and every range change then
        re-set each of them, hidden or not."""
        if name in self.smooth:
            return
        c = pg.mkColor(self.colours[name])
        # faint = the colour mixed with the white background (opaque: no blending cost when painting)
        faint = pg.mkColor(int(c.red() * 0.3 + 178.5), int(c.green() * 0.3 + 178.5), int(c.blue() * 0.3 + 178.5))
        raw = self.plot.plot(pen=pg.mkPen(faint, width=1))
        smooth = self.plot.plot(pen=self._smooth_pen(c, self.dashes[name], thick=True))
        for item in (raw, smooth):
            item.setDownsampling(auto=True, method="peak")
            # One sample per pixel column (peak mode keeps its min and max): the same envelope as the
            # default five per pixel, with a fifth of the vertices to paint.
            item.opts["autoDownsampleFactor"] = 1.0
            item.setClipToView(True)
            item.setSkipFiniteCheck(not self.log)  # log10 of a value <= 0 is not finite
        self.raw[name], self.smooth[name] = raw, smooth

    @staticmethod
    def _smooth_pen(colour, dash: str, thick: bool):
        return pg.mkPen(colour, width=2 if thick else 1, style=DASH_STYLES[dash])

    def _style_smooth(self, name: str, points: int) -> None:
        """The smoothed curve's look for `points` points to draw: 2 px wide up to THICK_POINTS, 1 px
        beyond; a dot for a single point."""
        item = self.smooth[name]
        thick = points <= THICK_POINTS
        pen = item.opts["pen"]
        if (pen.widthF() > 1) != thick:
            item.setPen(self._smooth_pen(pg.mkColor(self.colours[name]), self.dashes[name], thick))
        # one logged point (a measure taken once, at the end of a short run) is no line: a dot shows it
        dot = points == 1
        if (item.opts["symbol"] is not None) != dot:
            if dot:
                item.setSymbol("o")
                item.setSymbolSize(7)
                item.setSymbolPen(None)
                item.setSymbolBrush(pg.mkBrush(self.colours[name]))
            else:
                item.setSymbol(None)

    def _groups(self) -> dict[str, list[str]]:
        """Per-class curves (class_count/0, class_count/1...) by their common prefix, where GROUP_MIN or
        more share one: each such group is one legend entry instead of a line of names per few classes."""
        groups: dict[str, list[str]] = {}
        for name in self.colours:
            prefix, _, index = name.rpartition("/")
            if prefix and index.isdigit():
                groups.setdefault(prefix, []).append(name)
        return {prefix: names for prefix, names in groups.items() if len(names) >= GROUP_MIN}

    def _update_legend(self) -> None:
        # A Qt label, not a pyqtgraph LegendItem: legend anchors outlive their view box on teardown.
        # entries are joined by ordinary spaces so a long legend wraps instead of widening the window
        groups = self._groups()
        grouped = {name: prefix for prefix, names in groups.items() for name in names}
        entries, done = [], set()
        for name, colour in self.colours.items():
            prefix = grouped.get(name)
            if prefix is None:
                entries.append(self._entry(name, colour))
            elif prefix not in done:
                done.add(prefix)
                entries.append(self._group_entry(prefix, groups[prefix]))
        self.legend.setText(" &nbsp;".join(entries))

    def _group_entry(self, prefix: str, names: list[str]) -> str:
        """One entry for a group: struck through while all its curves are hidden, else each shown curve's
        glyph in its colour with its index (compact: ten classes take one short line)."""
        link = quote(prefix + GROUP_LINK)
        indices = [name.rpartition("/")[2] for name in names]
        text = html.escape(prefix)
        shown = [(i, name) for i, name in zip(indices, names) if name not in self.hidden]
        if not shown:
            return (f"<a href='{link}' style='color:#aaaaaa; text-decoration:line-through'>"
                    f"&#9644;&nbsp;{text}/{indices[0]}&ndash;{indices[-1]}</a>")
        marks = "&nbsp;".join(f"<span style='color:{self.colours[name]}'>&#9644;</span>{i}" for i, name in shown)
        return f"<a href='{link}' style='color:black; text-decoration:none'>{text}/&nbsp;{marks}</a>"

    def _entry(self, name: str, colour: str) -> str:
        text = html.escape(name)
        if name in self.hidden:
            return (f"<a href='{quote(name)}' style='color:#aaaaaa; text-decoration:line-through'>"
                    f"&#9644;&nbsp;{text}</a>")
        glyph = DASH_GLYPHS[self.dashes.get(name, "solid")]
        return (f"<a href='{quote(name)}' style='color:black; text-decoration:none'>"
                f"<span style='color:{colour}'>{glyph}</span>&nbsp;{text}</a>")

    def toggle(self, link: str) -> None:
        """Hide a shown curve or show a hidden one (the legend's links carry the quoted name); a group's
        link ("class_count/*") shows all its curves, or hides them when all are shown."""
        name = unquote(link)
        if name.endswith(GROUP_LINK) and name[:-len(GROUP_LINK)] in self._groups():
            # a group: all of it shown when any was hidden, else all hidden
            names = self._groups()[name[:-len(GROUP_LINK)]]
            show = any(n in self.hidden for n in names)
        elif name in self.series:
            names, show = [name], name in self.hidden
        else:
            return
        for name in names:
            (self.hidden.discard if show else self.hidden.add)(name)
            (self.shown.add if show else self.shown.discard)(name)
            if show:
                self._items(name)
            for item in (self.raw.get(name), self.smooth.get(name)):
                if item is not None:
                    item.setVisible(show)
        self._update_legend()
        self.fit_y()  # re-fit to what is shown now

    def is_shown(self, name: str) -> bool:
        return name in self.series and name not in self.hidden

    def add(self, step: int, values: dict[str, float]) -> None:
        new = False
        for name, value in values.items():
            if name not in self.series:
                self._curve(name, len(self.series))
                new = True
            self.series[name].append(step, float(value))
        if new:
            self._update_legend()   # once for all the new names
        self.dirty = True

    def add_rows(self, rows) -> None:
        """Many logged rows at once, [(step, {name: value})] (a past run's curves): each name's points go
        into its series in one extend, as add() row by row would put them (tens of thousands of rows one
        point at a time held the GUI thread for seconds)."""
        columns: dict[str, tuple[list, list]] = {}
        for step, values in rows:
            for name, value in values.items():
                column = columns.get(name)
                if column is None:
                    column = columns[name] = ([], [])
                column[0].append(step)
                column[1].append(float(value))
        new = False
        for name, (xs, ys) in columns.items():   # names in the order they first appear, as add() meets them
            if name not in self.series:
                self._curve(name, len(self.series))
                new = True
            self.series[name].extend(xs, ys)
        if new:
            self._update_legend()
        self.dirty = True

    def truncate_after(self, step: int) -> None:
        self._extents.clear()
        for s in self.series.values():
            s.truncate_after(step)
        self.dirty = True

    def set_weight(self, weight: float) -> None:
        self.weight = weight
        for s in self.series.values():
            s.set_weight(weight)
        self.dirty = True

    def set_log(self, on: bool) -> None:
        self.log = bool(on)
        self.plot.setLogMode(y=self.log)
        for item in (*self.raw.values(), *self.smooth.values()):
            item.setSkipFiniteCheck(not self.log)
        self.fit_y()

    def has_visible_data(self) -> bool:
        return any(s.n and name not in self.hidden for name, s in self.series.items())

    def redraw(self, show_raw: bool, x_zoomed: bool = False) -> None:
        if not self.dirty:
            return
        self.dirty = False
        # No plot without a curve to show (a family without held-out measures, every curve hidden):
        # an empty frame would show a made-up range. The legend stays, so hidden ones can be shown.
        if self.area is not None:
            self.area.set_item_visible(self.plot, self.has_visible_data())
        else:
            self.plot.setVisible(self.has_visible_data())
        # Hand each curve only what the visible x range can show (a few thousand points, see
        # Series.display): pyqtgraph would otherwise clip and downsample every full array on each
        # redraw and again on each range change, tens of ms per curve for a long run.
        lo, hi = self.plot.getViewBox().viewRange()[0]
        raw_drawn = show_raw and self.weight > 0
        for name, s in self.series.items():
            if name in self.hidden or name not in self.smooth:
                continue   # hidden (its items, if any, get its data when shown) or its items still to be made
            xs, ys = s.display(lo, hi, LOD_POINTS, smoothed=self.weight > 0)
            self._style_smooth(name, len(xs))
            self.smooth[name].setData(xs, ys)
            if raw_drawn:
                self.raw[name].setData(*s.display(lo, hi, LOD_POINTS))
            else:
                self.raw[name].setData([], [])
        if self.auto_y:
            self._fit_visible(lo, hi, raw_drawn, x_zoomed)

    def _fit_visible(self, lo: float, hi: float, raw_drawn: bool, x_zoomed: bool) -> None:
        """The y range of what is visible in [lo, hi], outliers ignored (studio.series.robust_range)."""
        shown = [s for name, s in self.series.items() if name not in self.hidden and s.n]
        if not shown:
            return
        if not x_zoomed or all(s.xs[-1] < lo or s.xs[0] > hi for s in shown):
            lo, hi = -float("inf"), float("inf")  # x follows the data (or the view is off it): all of it
        # the raw values when they are drawn: the smoothed curve is an average of them, so it lies within
        # their range, except for the echo of an outlier the range leaves out on purpose
        smoothed = self.weight > 0 and not raw_drawn
        key = (lo, hi, smoothed, self.weight, self.log)
        extents = []
        for name, s in self.series.items():
            if name in self.hidden or not s.n:
                continue
            cache = self._extents.setdefault(name, ExtentCache())
            extents.append(cache.extent_of(s.visible(lo, hi, smoothed=smoothed), key + (s.version,), self.log))
        # kept while the data stays well inside it: a y range moving on every redraw re-lays out the axis
        y_range = steady_range(self.y_range, padded_range(extents))
        if y_range is not None and y_range != self.y_range:
            self.y_range = y_range
            # only mouse changes count as the person's (sigRangeChangedManually), so this one does not
            self.plot.getViewBox().setYRange(*y_range, padding=0)

    def clear(self) -> None:
        self.plot.clear()
        self.colours.clear()
        self.dashes.clear()
        self.auto_y = True
        self.y_range = None
        self._update_legend()
        self.series.clear()
        self._extents.clear()
        self.raw.clear()
        self.smooth.clear()
        self.waiting.clear()
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
        self.view = PlotArea()
        self.view.setBackground("w")
        self.view.set_placeholder("Loss curves appear here while a run trains or when you open a past run")
        self.view.placeholder.show()  # until the first point (_show_placeholder)
        self.loss_plot = self.view.addPlot(row=0, col=0)
        self.metric_plot = self.view.addPlot(row=1, col=0)
        for plot, label in ((self.loss_plot, "loss"), (self.metric_plot, "metric")):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("left", label)
        self.loss_plot.setLabel("bottom", "step")
        self.metric_plot.setLabel("bottom", "step")
        self.metric_plot.setXLink(self.loss_plot)
        # x follows the data's steps until the person zooms or pans x; the plots' "A" button fits again
        self.x_zoomed = False
        self.x_range: tuple[float, float] | None = None   # the x range the panel last set
        self.live = False   # a run is training: x grows ahead of the data; otherwise it fits the data
        for plot in (self.loss_plot, self.metric_plot):
            plot.getViewBox().sigRangeChangedManually.connect(self._changed_by_hand)
            plot.autoBtn.clicked.connect(self.fit)
        self.loss_plot.hide()  # shown once they have a curve to show
        self.metric_plot.hide()
        self.loss_legend = QLabel()
        self.metric_legend = QLabel()
        # A gradient norm is a diagnostic on its own scale (tens, against a loss of ~2): listed, drawn
        # when clicked, so the losses keep the plot's range
        self.losses = CurveSet(self.loss_plot, self.loss_legend,
                               start_hidden=lambda name: name.endswith("grad_norm") or is_counter(name),
                               area=self.view)
        # Per-class sample counts (class_count/3...) are ten or more curves on another scale: listed
        # in the legend, drawn when clicked. Held-out measures (val/...) always show.
        self.metrics = CurveSet(self.metric_plot, self.metric_legend,
                                start_hidden=lambda name: ("/" in name and not name.startswith("val/"))
                                or is_counter(name), area=self.view)

        self.smoothing = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=DEFAULT_SMOOTHING)
        self.smoothing.setObjectName("smoothing")
        self.smoothing.setMinimumWidth(40)  # a narrow dock must not squeeze it to nothing
        self.smoothing.setToolTip("TensorBoard's smoothing: a bias-corrected exponential moving average over "
                                  "logged points (it starts on the data); left: raw values")
        self.smoothing_label = QLabel()
        self.show_raw = QCheckBox("raw", checked=True)
        self.show_raw.setToolTip("Also draw the unsmoothed values, faintly")
        self.log_y = QCheckBox("log")
        self.log_y.setToolTip("Logarithmic y axes (values at or below zero are left out)")
        controls = QHBoxLayout()
        controls.setSpacing(4)
        controls.addWidget(QLabel("Smooth"))
        controls.addWidget(self.smoothing, 1)
        controls.addWidget(self.smoothing_label)
        controls.addWidget(self.show_raw)
        controls.addWidget(self.log_y)
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
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        self.show_raw.toggled.connect(self._mark_dirty)
        self.log_y.toggled.connect(self.set_log)
        self._smoothing_changed(self.smoothing.value())

        state.run_started.connect(self._on_started)
        state.run_ended.connect(self._on_ended)
        state.progress.connect(self._on_progress)
        state.metrics.connect(self._on_metrics)
        state.run_opened.connect(self._on_opened)
        state.train_warning.connect(self._on_warning)

    # --- events -----------------------------------------------------------------------------------
    def _on_started(self, event: ev.Started) -> None:
        if event.start_step == 0:
            self.clear()
        self.live = True

    def _on_ended(self) -> None:
        """The run is over: x fits its data again, without the room it kept to grow into."""
        self.live = False
        self.x_range = None
        self._mark_dirty()

    def _on_opened(self, history) -> None:
        """A past run: its logged curves from metrics.jsonl."""
        self.clear()
        self.losses.add_rows(history.losses)
        self.metrics.add_rows(history.metrics)

    def _on_warning(self, event: ev.TrainWarning) -> None:
        if event.kind == "rollback":  # training went back to event.step: the later points are history
            self.losses.truncate_after(event.step)
            self.metrics.truncate_after(event.step)

    def _on_progress(self, event: ev.Progress) -> None:
        self.losses.add(event.step, event.losses)

    def _on_metrics(self, event: ev.Metrics) -> None:
        self.metrics.add(event.step, event.values)

    # --- drawing ----------------------------------------------------------------------------------
    def _smoothing_changed(self, value: int) -> None:
        weight = slider_to_weight(value)
        self.smoothing_label.setText(f"{weight:.3f}".rstrip("0") if weight else "off")  # 0.6, 0.617
        self.losses.set_weight(weight)
        self.metrics.set_weight(weight)

    def set_log(self, on: bool) -> None:
        self.losses.set_log(on)
        self.metrics.set_log(on)

    def _mark_dirty(self, *_):
        self.losses.dirty = self.metrics.dirty = True

    def _changed_by_hand(self, mask) -> None:
        if len(mask) and mask[0]:
            self.x_zoomed = True

    def fit(self) -> None:
        """Both plots follow the data again (x: every step shown; y: the visible values, outliers ignored)."""
        self.x_zoomed = False
        self.x_range = None
        self.losses.fit_y()
        self.metrics.fit_y()

    def _tick(self) -> None:
        # a panel behind another tab (Qt keeps it "visible", with nothing of it on screen) or closed
        # draws nothing; it catches up at the first tick it is seen again
        if self.isVisible() and not self.visibleRegion().isEmpty():
            self.redraw()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.redraw()

    def redraw(self) -> None:
        raw = self.show_raw.isChecked()
        if not self.x_zoomed and (self.losses.dirty or self.metrics.dirty):
            extents = [e for e in (self.losses.x_extent(), self.metrics.x_extent()) if e is not None]
            if extents:
                lo, hi = min(e[0] for e in extents), max(e[1] for e in extents)
                if hi <= lo:
                    lo, hi = lo - 0.5, hi + 0.5
                # steady: while training, the range grows ahead of the data (a tenth) instead of moving at
                # every redraw; a margin of 2% each side
                x_range = steady_range(self.x_range, (lo, hi), grow=0.1 if self.live else 0.0, rounded=False,
                                       pad=0.02)
                if x_range != self.x_range:
                    self.x_range = x_range
                    for plot in (self.loss_plot, self.metric_plot):
                        plot.getViewBox().setXRange(*x_range, padding=0)
        self.losses.redraw(raw, self.x_zoomed)
        self.metrics.redraw(raw, self.x_zoomed)
        self._show_placeholder()

    def _show_placeholder(self) -> None:
        """The empty view says what will appear in it, until there is a point to plot."""
        empty = not self.losses.series and not self.metrics.series
        if self.view.placeholder.isHidden() == empty:
            self.view.placeholder.setVisible(empty)

    def clear(self) -> None:
        self.x_zoomed = False
        self.x_range = None
        self.losses.clear()
        self.metrics.clear()
        self.view.set_item_visible(self.loss_plot, False)
        self.view.set_item_visible(self.metric_plot, False)
        self._show_placeholder()

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
