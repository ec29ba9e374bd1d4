"""The Losses panel keeps its shape whatever a family reports."""

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication

from engines.train import events as ev
from studio.docks.losses import slider_to_weight


def test_many_series_wrap_their_legend_instead_of_widening_the_window(qtbot, window):
    panel = window.panels["losses"]
    narrow = window.minimumSizeHint().width()
    names = [f"class_count/{i}" for i in range(30)] + ["sample_diversity", "diversity_vs_data", "near_duplicates"]
    for step in (1, 2, 3):
        panel._on_metrics(ev.Metrics(step, {n: float(step) for n in names}))
        panel._on_progress(ev.Progress(step, 3, {f"loss_{i}": 1.0 / step for i in range(12)}, 1.0, 1.0, 0.0))
    assert panel.point_count("class_count/29") == 3 and panel.point_count("loss_11") == 3
    window.resize(1200, 800)
    qtbot.waitUntil(lambda: window.panels["losses"].metric_legend.isVisible())
    QCoreApplication.processEvents()
    assert window.width() <= 1400 and window.minimumSizeHint().width() <= max(narrow, 1400)
    assert panel.metric_legend.wordWrap() and "near_duplicates" in panel.metric_legend.text()


def test_clicking_a_legend_name_hides_its_curve_and_the_range_follows(qtbot, window):
    panel = window.panels["losses"]
    for step in range(1, 6):
        panel._on_metrics(ev.Metrics(step, {"class_count/0": 500.0 * step, "val/bits_per_dim": 2.0 - 0.1 * step}))
    panel.redraw()
    curves = panel.metrics
    # per-class counts start hidden (listed, struck through); held-out measures show
    assert "class_count/0" in panel.metric_legend.text() and not curves.is_shown("class_count/0")
    assert curves.is_shown("val/bits_per_dim")
    # what a click on the link delivers: the href of the name's entry
    href = panel.metric_legend.text().split("href='")[1].split("'")[0]
    panel.metric_legend.linkActivated.emit(href)
    assert curves.is_shown("class_count/0")
    qtbot.waitUntil(lambda: panel.metric_plot.viewRange()[1][1] > 1000)
    panel.metric_legend.linkActivated.emit(href)
    assert not curves.is_shown("class_count/0") and curves.is_shown("val/bits_per_dim")
    assert not curves.smooth["class_count/0"].isVisible()
    assert "line-through" in panel.metric_legend.text()
    qtbot.waitUntil(lambda: panel.metric_plot.viewRange()[1][1] < 100)  # the big curve no longer sets the scale
    panel.metric_legend.linkActivated.emit(href)
    assert curves.is_shown("class_count/0")
    qtbot.waitUntil(lambda: panel.metric_plot.viewRange()[1][1] > 1000)
    # the person's choice carries into the next run: shown stays shown, hidden stays hidden
    panel.clear()
    panel._on_metrics(ev.Metrics(1, {"class_count/0": 3.0, "sample_diversity": 1.0}))
    assert curves.is_shown("class_count/0")
    curves.toggle("sample_diversity")
    panel.clear()
    panel._on_metrics(ev.Metrics(1, {"class_count/0": 3.0, "sample_diversity": 1.0}))
    assert curves.is_shown("class_count/0") and not curves.is_shown("sample_diversity")
    assert "sample_diversity" not in curves.smooth or not curves.smooth["sample_diversity"].isVisible()


def test_gradient_norms_are_listed_but_start_hidden_so_the_losses_keep_the_range(qtbot, window):
    panel = window.panels["losses"]
    for step in range(1, 6):
        panel._on_progress(ev.Progress(step, 10, {"bits_per_dim": 2.0 - 0.1 * step, "grad_norm": 40.0}, 1.0, 1.0, 0.0))
    panel.redraw()
    assert "grad_norm" in panel.loss_legend.text() and not panel.losses.is_shown("grad_norm")
    assert panel.losses.is_shown("bits_per_dim")
    qtbot.waitUntil(lambda: panel.loss_plot.viewRange()[1][1] < 10)
    panel.losses.toggle("grad_norm")
    qtbot.waitUntil(lambda: panel.loss_plot.viewRange()[1][1] > 30)


def test_a_rollback_removes_the_undone_stretch_of_the_curves(qtbot, window):
    panel = window.panels["losses"]
    for step in range(1, 11):
        panel._on_progress(ev.Progress(step, 20, {"loss": float(step)}, 1.0, 1.0, 0.0))
        panel._on_metrics(ev.Metrics(step, {"val/bits_per_dim": float(step)}))
    window.state.train_warning.emit(ev.TrainWarning(6, "went back to step 6", "rollback"))
    assert panel.point_count("loss") == 6 and panel.point_count("val/bits_per_dim") == 6
    panel._on_progress(ev.Progress(7, 20, {"loss": 0.5}, 1.0, 1.0, 0.0))
    assert list(panel.losses.series["loss"].xs) == [1, 2, 3, 4, 5, 6, 7]
    window.state.train_warning.emit(ev.TrainWarning(7, "mode collapse", "mode-collapse", True))
    assert panel.point_count("loss") == 7  # other warnings leave the curves alone


def _settle(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.losses.waiting and not panel.metrics.waiting, timeout=5000)
    panel.redraw()
    qtbot.waitUntil(lambda: not panel.losses.dirty and not panel.metrics.dirty, timeout=5000)


def test_an_early_outlier_does_not_set_the_loss_axis(qtbot, window):
    """A VAE's first logged loss of ~700,000 before values of ~500: the axis is read from the rest."""
    panel = window.panels["losses"]
    panel._on_progress(ev.Progress(10, 2000, {"loss": 700_000.0}, 1.0, 1.0, 0.0))
    for step in range(20, 2001, 10):
        panel._on_progress(ev.Progress(step, 2000, {"loss": 600.0 - step / 20}, 1.0, 1.0, 0.0))
    _settle(qtbot, panel)
    low, high = panel.loss_plot.viewRange()[1]
    assert 480 < high < 620 and 480 < low < 520
    assert panel.loss_plot.isVisible() and not panel.metric_plot.isVisible()  # no metric: no empty plot
    lo_x, hi_x = panel.loss_plot.viewRange()[0]
    assert lo_x <= 10 and hi_x >= 2000  # every step in view


def test_counters_start_hidden_so_the_0_to_1_measures_keep_their_scale(qtbot, window):
    panel = window.panels["losses"]
    for step in range(1, 8):
        panel._on_metrics(ev.Metrics(step * 100, {"d_saturated_steps": 20.0 * step, "sample_diversity": 0.5 + step / 100,
                                                  "diversity_vs_data": 0.9}))
    _settle(qtbot, panel)
    assert "d_saturated_steps" in panel.metric_legend.text() and not panel.metrics.is_shown("d_saturated_steps")
    assert panel.metric_plot.viewRange()[1][1] < 1.5
    panel.metrics.toggle("d_saturated_steps")
    panel.redraw()
    qtbot.waitUntil(lambda: panel.metric_plot.viewRange()[1][1] > 100)


def test_a_plot_whose_curves_are_all_hidden_is_not_drawn_but_its_legend_stays(qtbot, window):
    panel = window.panels["losses"]
    panel._on_progress(ev.Progress(1, 10, {"loss": 1.0}, 1.0, 1.0, 0.0))
    panel._on_metrics(ev.Metrics(1, {"class_count/0": 3.0, "class_count/1": 5.0}))
    _settle(qtbot, panel)
    assert not panel.metric_plot.isVisible() and "class_count/1" in panel.metric_legend.text()
    panel.metrics.toggle("class_count/1")
    panel.redraw()
    assert panel.metric_plot.isVisible()


def test_log_toggle_plain_axis_numbers_and_a_palette_without_repeats(qtbot, window):
    panel = window.panels["losses"]
    assert panel.log_y.isVisible() and not panel.log_y.isChecked()
    names = [f"loss_{i}" for i in range(12)]
    for step in range(1, 30):
        panel._on_progress(ev.Progress(step, 30, {n: 0.001 * (i + 1) / step for i, n in enumerate(names)}, 1.0, 1.0, 0.0))
    _settle(qtbot, panel)
    axis = panel.loss_plot.getAxis("left")
    assert not axis.autoSIPrefix and "(x" not in axis.labelString()  # no "loss (x0.001)"
    pens = {(p.color().name(), p.style()) for p in (panel.losses.smooth[n].opts["pen"] for n in names)}
    assert len(pens) == 12  # ten colours, then the first ones again dashed
    panel.log_y.setChecked(True)
    assert panel.loss_plot.getAxis("left").logMode and panel.metric_plot.getAxis("left").logMode
    _settle(qtbot, panel)
    low, high = panel.loss_plot.viewRange()[1]
    assert high - low > 2  # decades on a log axis: 1e-5 .. 1e-2
    panel.log_y.setChecked(False)
    assert not panel.loss_plot.getAxis("left").logMode


def test_default_smoothing_is_debiased_and_does_not_lag(qtbot, window):
    panel = window.panels["losses"]
    assert panel.losses.weight == 0.6 and panel.show_raw.isChecked()
    assert panel.smoothing_label.text() == "0.6"  # what the README says the default is
    weights = [slider_to_weight(v) for v in range(101)]
    assert weights == sorted(weights) and len(set(weights)) == 101  # still one weight per position, in order
    for step in range(1, 201):
        panel._on_progress(ev.Progress(step, 200, {"loss": 10.0 if step <= 100 else 2.0}, 1.0, 1.0, 0.0))
    smoothed = panel.losses.series["loss"].smoothed
    assert smoothed[0] == pytest.approx(10.0) and abs(smoothed[110] - 2.0) < 0.05


def test_the_persons_y_zoom_is_kept_until_they_fit_again(qtbot, window):
    panel = window.panels["losses"]
    for step in range(1, 20):
        panel._on_progress(ev.Progress(step, 40, {"loss": 5.0 - step / 10}, 1.0, 1.0, 0.0))
    _settle(qtbot, panel)
    view = panel.loss_plot.getViewBox()
    view.setYRange(100, 200, padding=0)
    view.sigRangeChangedManually.emit([False, True])  # what a mouse zoom on y reports
    panel._on_progress(ev.Progress(20, 40, {"loss": 3.0}, 1.0, 1.0, 0.0))
    _settle(qtbot, panel)
    assert panel.loss_plot.viewRange()[1] == [100, 200]
    panel.fit()
    _settle(qtbot, panel)
    assert panel.loss_plot.viewRange()[1][1] < 10


def test_the_loss_plot_fills_its_panel_from_the_first_point(qtbot, window):
    """The plot came back a few pixels tall at the start of every run (both plots hidden collapsed the
    layout), and the panel was taller than its dock (pyqtgraph's 640×480 size hint)."""
    from engines.train import events as ev
    losses = window.panels["losses"]
    qtbot.waitUntil(lambda: losses.view.isVisible())
    window.state.run_started.emit(ev.Started(None, "dcgan", 0, 100, "cpu", 10))
    window.state.progress.emit(ev.Progress(1, 100, {"d_loss": 1.0, "g_loss": 2.0}, 10.0, 1.0, 10.0))
    qtbot.waitUntil(lambda: losses.loss_plot.isVisible())
    qtbot.waitUntil(lambda: losses.loss_plot.geometry().height() >= 0.8 * losses.view.height())
    assert losses.loss_plot.geometry().width() >= 0.8 * losses.view.width()
    scroll = window.docks["losses"].widget()
    assert losses.height() <= scroll.viewport().height()      # the panel fits its dock: no scroll bar


def test_the_plot_is_not_redrawn_behind_another_tab_and_catches_up_when_shown(qtbot, window):
    """Redrawing a hidden plot was GUI-thread time spent on nothing: it waits until shown."""
    panel = window.panels["losses"]
    window.show_panel("losses")
    qtbot.waitUntil(panel.isVisible)
    panel._on_progress(ev.Progress(1, 10, {"loss": 1.0}, 1.0, 1.0, 0.0))
    qtbot.waitUntil(lambda: panel.drawn_points("loss") == 1)
    window.show_panel("translate")                        # the tab in front of it
    qtbot.waitUntil(lambda: panel.visibleRegion().isEmpty())
    panel._on_progress(ev.Progress(2, 10, {"loss": 0.5}, 1.0, 1.0, 0.0))
    panel._tick()                                         # what its redraw timer does
    assert panel.drawn_points("loss") == 1 and panel.losses.dirty
    window.show_panel("losses")
    qtbot.waitUntil(lambda: panel.drawn_points("loss") == 2)


def test_axes_never_relayout_on_a_range_change_and_grids_are_solid(qtbot):
    """Per live redraw, an axis with pyqtgraph's auto SI prefix rewrote its label and height (a layout
    of the plot), and translucent grid lines were filled on Qt's thread pool with the GUI thread waiting:
    every studio axis is plain and, once themed, its grid solid (the colour blending would give)."""
    from studio import app as studio_app
    from studio.theme import PLOT_COLOURS, current

    from .helpers import dispose

    window = studio_app.create_window()   # themed as the studio starts
    axes = []
    for panel_id, plots in (("losses", ("loss_plot", "metric_plot")), ("compare", ("plot", "quality_plot")),
                            ("style", ("plot",))):
        for attr in plots:
            plot = getattr(window.panels[panel_id], attr)
            axes += [plot.getAxis(name) for name in ("left", "bottom")]
    assert axes and not any(axis.autoSIPrefix for axis in axes)
    gridded = [axis for axis in axes if axis.grid is not False]
    assert gridded
    background, _ = PLOT_COLOURS[current()]
    for axis in gridded:
        assert axis.style["tickAlpha"] == 255 and axis.tickPen().color().alpha() == 255
        assert axis.style["maxTickLevel"] <= 1   # opaque lines cannot fade: no line every few steps
        assert axis.tickPen().color().name() != background
    window.state.shutdown(10_000)
    window.close()
    dispose(window)


def test_a_growing_curve_keeps_its_axes_and_a_long_one_is_drawn_thin(qtbot, window):
    """A range moving at every redraw re-laid out the axis text and transformed every curve again (most
    of a live redraw's cost): the ranges stay while the data stays well inside them. Wide lines are
    stroked segment by segment: a curve with many points to draw is 1 px wide."""
    from studio.docks.losses import THICK_POINTS
    panel = window.panels["losses"]
    panel.live = True   # what a run's start sets: x keeps room to grow into
    for step in range(1, 1001):
        panel._on_progress(ev.Progress(step, 10_000, {"loss": 1.0 + 0.001 * (step % 7)}, 1.0, 1.0, 0.0))
    _settle(qtbot, panel)
    x_range, y_range = panel.loss_plot.viewRange()
    assert x_range[0] <= 1 and x_range[1] >= 1000
    for step in range(1001, 1011):
        panel._on_progress(ev.Progress(step, 10_000, {"loss": 1.0 + 0.001 * (step % 7)}, 1.0, 1.0, 0.0))
        _settle(qtbot, panel)
        assert panel.loss_plot.viewRange() == [x_range, y_range]
    assert panel.losses.smooth["loss"].opts["pen"].widthF() == (2 if panel.drawn_points("loss") <= THICK_POINTS else 1)
    for step in range(1011, 1011 + 2 * THICK_POINTS):
        panel._on_progress(ev.Progress(step, 10_000, {"loss": 1.0}, 1.0, 1.0, 0.0))
    _settle(qtbot, panel)
    assert panel.drawn_points("loss") > THICK_POINTS and panel.losses.smooth["loss"].opts["pen"].widthF() == 1
    assert panel.loss_plot.viewRange()[0][1] >= 1011 + 2 * THICK_POINTS   # x followed the data out of its range
    panel._on_ended()                                                      # the run is over: x fits its data
    _settle(qtbot, panel)
    last = 1010 + 2 * THICK_POINTS
    assert last <= panel.loss_plot.viewRange()[0][1] <= last + 0.03 * last


def test_per_class_curves_are_one_legend_entry_that_shows_and_hides_them_all(qtbot, window):
    """A first run ended with ten struck-through class_count entries over four lines, squeezing the plot."""
    panel = window.panels["losses"]
    names = {f"class_count/{i}": 10.0 * i for i in range(10)}
    panel._on_metrics(ev.Metrics(1, {**names, "sample_diversity": 0.5}))
    text = panel.metric_legend.text()
    assert text.count("href=") == 2 and "class_count/0&ndash;9" in text and "line-through" in text
    href = text.split("href='")[1].split("'")[0]
    panel.metric_legend.linkActivated.emit(href)                       # a click on the group
    assert all(panel.metrics.is_shown(n) for n in names) and "line-through" not in panel.metric_legend.text()
    assert panel.metric_legend.text().count("&#9644;</span>") == 10     # a glyph per class, in its colour
    panel.metric_legend.linkActivated.emit(href)
    assert not any(panel.metrics.is_shown(n) for n in names) and panel.metrics.is_shown("sample_diversity")


def test_a_measure_logged_once_is_drawn_as_a_dot(qtbot, window):
    """A short first run logs its measures once, at the end: a one-point curve is no line, and the plot
    showed an empty frame."""
    panel = window.panels["losses"]
    panel._on_metrics(ev.Metrics(157, {"sample_diversity": 0.4}))
    _settle(qtbot, panel)
    assert panel.metrics.smooth["sample_diversity"].opts["symbol"] == "o"
    panel._on_metrics(ev.Metrics(300, {"sample_diversity": 0.5}))
    _settle(qtbot, panel)
    assert panel.metrics.smooth["sample_diversity"].opts["symbol"] is None   # a line from two points on


def test_hidden_curves_get_plot_items_only_once_shown(qtbot, window):
    """A run's first measures come together, most of them hidden (per-class counts, gradient norms,
    counters): only the shown ones get plot items then (making and re-setting them all held the GUI
    thread mid-run); a click on a hidden one makes its items and draws it."""
    panel = window.panels["losses"]
    values = {f"class_count/{i}": 10.0 * i for i in range(10)}
    values.update({"d_saturated_steps": 40.0, "val/fid": 50.0, "sample_diversity": 0.5})
    panel._on_metrics(ev.Metrics(1, values))
    panel._on_metrics(ev.Metrics(2, {k: v + 1 for k, v in values.items()}))
    _settle(qtbot, panel)
    curves = panel.metrics
    assert set(curves.smooth) == set(curves.raw) == {"val/fid", "sample_diversity"}
    assert len(panel.metric_plot.listDataItems()) == 4
    assert all(name in panel.metric_legend.text() for name in ("d_saturated_steps", "class_count"))
    assert panel.drawn_points("val/fid") == 2
    curves.toggle("d_saturated_steps")
    panel.redraw()
    assert curves.smooth["d_saturated_steps"].isVisible() and panel.drawn_points("d_saturated_steps") == 2
    qtbot.waitUntil(lambda: panel.metric_plot.viewRange()[1][1] > 50)


def test_many_new_curves_get_their_items_a_few_per_event_loop_turn(qtbot, window):
    """A burst of shown measures: CURVES_PER_TURN names' items at once, the rest on the next turns (the
    window answers in between); all drawn in the end."""
    from studio.docks.losses import CURVES_PER_TURN
    panel = window.panels["losses"]
    names = [f"val/m{i}" for i in range(3 * CURVES_PER_TURN + 1)]
    panel._on_metrics(ev.Metrics(1, {n: float(i) for i, n in enumerate(names)}))
    assert len(panel.metrics.smooth) == CURVES_PER_TURN and len(panel.metrics.waiting) == len(names) - CURVES_PER_TURN
    assert all(n in panel.metric_legend.text() for n in names)   # listed at once
    _settle(qtbot, panel)
    assert set(panel.metrics.smooth) == set(names) and all(panel.drawn_points(n) == 1 for n in names)


def test_rows_added_at_once_give_the_curves_row_by_row_adding_gives(qtbot, window):
    """A past run's curves go in one extend per name (add_rows): the same series, smoothing, colours
    and legend as adding its rows one by one."""
    panel = window.panels["losses"]
    rng = np.random.default_rng(0)
    rows = [(10 * i, {"d_loss": float(rng.random()), **({"g_loss": float(rng.random())} if i % 3 else {})})
            for i in range(1, 400)]
    one_by_one = panel.losses
    for step, values in rows:
        one_by_one.add(step, values)
    expected = {n: (s.xs.copy(), s.ys.copy(), s.smoothed.copy())
                for n, s in one_by_one.series.items()}
    colours, legend = dict(one_by_one.colours), panel.loss_legend.text()
    one_by_one.clear()
    one_by_one.add_rows(rows)
    assert list(one_by_one.series) == list(expected) and one_by_one.colours == colours
    assert panel.loss_legend.text() == legend
    for name, (xs, ys, smooth) in expected.items():
        s = one_by_one.series[name]
        assert np.array_equal(s.xs, xs) and np.array_equal(s.ys, ys)
        assert one_by_one.weight > 0 and np.allclose(s.smoothed, smooth)


def test_the_empty_panel_says_what_will_appear_until_the_first_point(qtbot, window):
    panel = window.panels["losses"]
    window.show_panel("losses")
    qtbot.waitUntil(panel.isVisible)
    note = panel.view.placeholder
    qtbot.waitUntil(note.isVisible)
    assert "Loss curves appear here" in note.text() and note.width() > 0.5 * panel.view.width()
    panel._on_progress(ev.Progress(1, 10, {"loss": 1.0}, 1.0, 1.0, 0.0))
    qtbot.waitUntil(lambda: not note.isVisible())
    qtbot.waitUntil(lambda: panel.drawn_points("loss") == 1)
    panel.clear()                                   # a new run: empty again until its first point
    assert note.isVisible()
