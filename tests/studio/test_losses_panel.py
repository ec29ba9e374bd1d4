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
