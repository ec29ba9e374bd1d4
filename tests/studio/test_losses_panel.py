"""The Losses panel keeps its shape whatever a family reports."""

from PySide6.QtCore import QCoreApplication

from engines.train import events as ev


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
    assert not curves.smooth["sample_diversity"].isVisible()


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
