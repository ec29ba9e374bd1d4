import sys

import pytest

from PySide6.QtWidgets import QDockWidget

from engines.train import events as ev
from studio.docks import PANELS
from studio.errors import install_excepthook, uninstall_excepthook
from studio.main_window import MainWindow

from .helpers import dispose


def test_every_panel_is_a_named_closable_dock_listed_in_the_view_menu(window):
    assert len(window.docks) == len(PANELS)
    titles = [a.text() for a in window.view_menu.actions()]
    for panel_id, dock in window.docks.items():
        assert dock.objectName() == f"dock_{panel_id}"
        assert dock.features() & QDockWidget.DockWidgetFeature.DockWidgetClosable
        assert dock.features() & QDockWidget.DockWidgetFeature.DockWidgetFloatable
        assert dock.windowTitle() in titles
    assert "&Reset layout" in titles
    assert [a.text() for a in window.training_menu.actions()][:2] == ["&Start training", "&Pause"]


def test_layout_is_saved_and_restored(qtbot, tmp_path):
    first = MainWindow()
    first.show()
    first.docks["gallery"].toggleViewAction().trigger()      # hide Gallery from the View menu
    first.docks["losses"].setFloating(True)
    assert first.docks["gallery"].isHidden()
    first.close()
    dispose(first)
    assert (tmp_path / "settings.ini").exists()

    second = MainWindow()
    second.show()
    assert second.docks["gallery"].isHidden()
    assert second.docks["losses"].isFloating()
    assert not second.docks["dataset"].isHidden()
    second.reset_layout()
    assert not second.docks["gallery"].isHidden() and not second.docks["losses"].isFloating()
    second.close()
    dispose(second)


def test_failure_shows_message_with_details(qtbot, window):
    window.state.failed.emit(ev.Failed(7, "RuntimeError: boom", "Traceback (most recent call last):\n  boom"))
    message = window.message_bar.messages[-1]
    assert "boom" in message.text and "step 7" in message.text
    message.buttons["Details…"].click()
    assert message.details_dialog.isVisible()
    assert "Traceback" in message.details_dialog.text.toPlainText()
    message.dismiss()
    qtbot.waitUntil(lambda: not window.message_bar.messages)
    assert not window.banner.isVisible()


def test_rollback_warning_offers_roll_back_only_when_control_can(qtbot, window):
    warning = ev.TrainWarning(50, "the discriminator loss diverged", "divergence", rollback=True)
    window.state.train_warning.emit(warning)
    assert "Roll back" not in window.message_bar.messages[-1].buttons  # no run, no control

    class ControlWithRollback:  # what issue 4 adds to engines.train.loop.Control
        def __init__(self):
            self.rollbacks = 0

        def request_rollback(self):
            self.rollbacks += 1

    control = ControlWithRollback()
    window.state.session.control = control
    try:
        window.state.train_warning.emit(warning)
        message = window.message_bar.messages[-1]
        message.buttons["Roll back"].click()
        assert control.rollbacks == 1
    finally:
        window.state.session.control = None


def test_uncaught_exception_becomes_a_message(window):
    install_excepthook(window.show_message)
    try:
        try:
            raise ValueError("something odd")
        except ValueError:
            sys.excepthook(*sys.exc_info())
    finally:
        uninstall_excepthook()
    message = window.message_bar.messages[-1]
    assert message.level == "error" and "something odd" in message.text and "ValueError" in message.details


def test_the_window_fits_a_1280x720_laptop_screen(qtbot, window):
    """Panels scroll, wrap or tab instead of forcing the window wider or taller than the screen
    (it was 1377×787 before). Room is left for a title bar and a task bar."""
    assert window.minimumSizeHint().width() <= 1280 and window.minimumSizeHint().height() <= 650
    window.resize(1280, 650)
    qtbot.waitUntil(lambda: window.width() == 1280 and window.height() == 650)
    assert window.minimumSize().width() <= 1280 and window.minimumSize().height() <= 650
    for panel_id, dock in window.docks.items():
        assert dock.minimumSizeHint().width() < 300, panel_id


def test_a_button_row_wraps_in_a_narrow_dock(qtbot, window):
    runs = window.panels["runs"]
    buttons = [runs.refresh_button, runs.export_button, runs.compare_button, runs.open_button,
               runs.continue_button]
    dock = window.docks["runs"]
    dock.setFloating(True)
    dock.resize(900, 400)
    qtbot.waitUntil(lambda: len({b.y() for b in buttons}) == 1)       # one row when there is room
    dock.resize(260, 400)
    qtbot.waitUntil(lambda: len({b.y() for b in buttons}) > 1)        # wrapped, not cut off
    assert all(b.x() + b.width() <= runs.width() for b in buttons)


@pytest.mark.parametrize("screen, small", [((1280, 720), True), ((1920, 1080), False)])
def test_a_small_screen_tabs_model_and_runs_with_dataset(qtbot, monkeypatch, screen, small):
    monkeypatch.setattr(MainWindow, "_available_size", lambda self: screen)
    window = MainWindow()
    try:
        assert window.small_screen is small
        assert window.width() <= screen[0] and window.height() <= screen[1] - 40
        tabbed = {d.objectName() for d in window.tabifiedDockWidgets(window.docks["dataset"])}
        assert ({"dock_model", "dock_runs"} <= tabbed) is small
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QTabBar
        bars = [b for b in window.findChildren(QTabBar) if b.parent() is window]
        assert bars and all(b.elideMode() == Qt.TextElideMode.ElideNone and b.usesScrollButtons() for b in bars)
    finally:
        window.close()
        dispose(window)


def test_the_latent_grid_keeps_a_readable_size_in_a_small_window(qtbot, window):
    window.resize(1280, 650)
    window.docks["latent"].raise_()
    view = window.panels["latent"].view
    qtbot.waitUntil(lambda: view.isVisible())
    assert view.height() >= 200 and view.width() >= 200   # the panel scrolls instead of squeezing it


def test_a_long_banner_never_widens_the_window(qtbot, window):
    """A message of several hundred characters (the small-data note) is cut to the banner's width with
    "Details…" for the whole text; the window keeps its size (it went from 1278 to 1963 px once)."""
    window.resize(1280, 650)
    qtbot.waitUntil(lambda: window.width() == 1280)
    long_text = "This folder has 120 images: " + "fewer than 500 images make a GAN memorise them quickly; " * 8
    message = window.show_message("warning", long_text)
    qtbot.waitUntil(lambda: window.banner.isVisible() and message.label.isVisible())
    assert window.width() == 1280 and window.minimumSizeHint().width() <= 1280
    assert message.label.elided and message.label.toolTip() == long_text
    qtbot.waitUntil(lambda: message.buttons["Details…"].isVisible())
    message.buttons["Details…"].click()
    assert long_text in message.details_dialog.text.toPlainText()
    short = window.show_message("info", "Saved.")
    qtbot.waitUntil(lambda: short.label.isVisible())
    assert not short.label.elided and not short.buttons["Details…"].isVisible()


def test_a_saved_layout_larger_than_the_screen_is_not_restored(qtbot):
    first = MainWindow()
    first.show()
    screen = first.screen().availableGeometry()
    first.resize(screen.width() + 900, min(600, screen.height()))     # what a too-wide banner once did
    qtbot.waitUntil(lambda: first.width() > screen.width())
    first.close()
    dispose(first)

    second = MainWindow()
    second.show()
    try:
        assert second.width() <= screen.width() and second.height() <= screen.height()
        assert not second.docks["losses"].isHidden() and not second.docks["gallery"].isHidden()
    finally:
        second.close()
        dispose(second)


def _wheel(qtbot, widget, dy=-120):
    """A real wheel event over the middle of `widget` (as from a mouse), down by one notch."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication
    local = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(local, QPointF(widget.mapToGlobal(local.toPoint())), QPoint(0, 0), QPoint(0, dy),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_over_an_unfocused_field_scrolls_the_panel_and_changes_nothing(qtbot, window):
    """Scrolling the Model panel once turned "Train for" into minutes and batch size 64 into 63."""
    window.resize(1280, 650)
    window.docks["model"].raise_()
    settings = window.panels["model"].settings_form
    batch, unit = settings.editor("batch_size"), window.panels["model"].family_box
    qtbot.waitUntil(lambda: batch.isVisible() and unit.isVisible())
    before = (batch.value(), unit.currentIndex(), window.state.settings.batch_size, window.state.family_name)
    for field in (batch, unit):
        _wheel(qtbot, field)
    assert (batch.value(), unit.currentIndex(), window.state.settings.batch_size, window.state.family_name) == before
    # clicked into, the field takes the wheel as before
    batch.setFocus()
    qtbot.waitUntil(batch.hasFocus)
    _wheel(qtbot, batch, dy=120)
    assert batch.value() == before[0] + 1


def test_a_plot_inside_a_scrolling_panel_does_not_take_the_wheel(qtbot, window):
    """Scrolling the Style panel zoomed its loss plot, which stayed out of range for the run."""
    window.resize(1280, 650)
    window.docks["style"].raise_()
    style = window.panels["style"]
    import pyqtgraph as pg
    plot = style.findChildren(pg.GraphicsView)[0]
    scroll = window.docks["style"].widget()
    scroll.widget().setMinimumHeight(scroll.viewport().height() + 400)     # make sure the panel scrolls
    qtbot.waitUntil(lambda: plot.isVisible() and scroll.verticalScrollBar().maximum() > 0)
    view_box = [i for i in plot.scene().items() if isinstance(i, pg.ViewBox)][0]
    before = view_box.viewRange()
    _wheel(qtbot, plot.viewport())
    assert view_box.viewRange() == before
    assert scroll.verticalScrollBar().value() > 0


def test_file_dialogs_open_where_the_last_one_of_the_same_purpose_ended(qtbot, monkeypatch, tmp_path):
    """They opened in the checkout or the home folder and forgot the last folder."""
    from pathlib import Path

    from PySide6.QtWidgets import QFileDialog

    from studio import dialogs
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    asked = []

    def fake_dir(parent, title, start):
        asked.append(start)
        return str(pictures)

    def fake_save(parent, title, start, filters=""):
        asked.append(start)
        return str(tmp_path / "out" / "grid.png"), filters

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(fake_dir))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_save))
    (tmp_path / "out").mkdir()
    assert dialogs.open_folder(None, "Open image folder", "images") == str(pictures)
    dialogs.open_folder(None, "Open image folder", "images")
    assert asked[1] == str(pictures)                               # remembered for images
    dialogs.save_file(None, "Export", "export", "grid.png")
    assert asked[2] == str(Path.home() / "grid.png")               # not for another purpose
    dialogs.save_file(None, "Export", "export", "other.png")
    assert asked[3] == str(tmp_path / "out" / "other.png")
    assert dialogs.start_folder("runs") != str(Path(__file__).resolve().parents[2])   # never the checkout


def test_every_tab_is_in_sight_at_1280x720_and_the_view_menu_brings_a_panel_to_the_front(qtbot, monkeypatch):
    """Eight panels shared one tab group, Compare and Style behind scroll arrows; View entries only
    hid and showed."""
    from PySide6.QtWidgets import QTabBar
    monkeypatch.setattr(MainWindow, "_available_size", lambda self: (1280, 720))
    window = MainWindow()
    window.show()
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.width() == 1280)
    bars = [b for b in window.findChildren(QTabBar) if b.parent() is window and b.isVisible()]
    assert bars and max(b.count() for b in bars) <= 5
    for bar in bars:
        qtbot.waitUntil(lambda bar=bar: bar.width() > 0)
        assert bar.sizeHint().width() <= bar.width(), [bar.tabText(i) for i in range(bar.count())]
    entries = {a.text(): a for a in window.view_menu.actions()}
    for panel_id in ("style", "compare", "losses", "sampler"):
        entries[window.docks[panel_id].windowTitle()].trigger()
        qtbot.waitUntil(lambda p=panel_id: window.panels[p].isVisible())
    window.docks["tools"].close()
    entries["Tools"].trigger()
    qtbot.waitUntil(lambda: window.panels["tools"].isVisible())


def test_quitting_prints_no_pyqtgraph_warning(qtbot, recwarn):
    """pyqtgraph's quit hook printed "Failed to disconnect … destroyed()" on every quit."""
    import pyqtgraph as pg
    from pyqtgraph.Qt import isQObjectAlive
    for stale in [v for v in list(pg.ViewBox.AllViews) if not isQObjectAlive(v)]:   # other tests' plots
        pg.ViewBox.AllViews.pop(stale, None)
    w = MainWindow()
    w.show()
    assert any(True for _ in pg.ViewBox.AllViews)
    w.close()
    dispose(w)
    pg.ViewBox.quit()        # what pyqtgraph runs when the application is about to quit
    assert not [r for r in recwarn if "disconnect" in str(r.message)]


def test_focus_stays_in_its_panel_when_its_control_is_disabled(qtbot, window):
    """Start, disabled once pressed, handed the focus on to another panel (the Model form)."""
    from PySide6.QtWidgets import QApplication
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    training = window.panels["training"]
    box = training.processes                       # the last control of the Training panel
    box.setFocus()
    qtbot.waitUntil(box.hasFocus)
    box.setEnabled(False)
    focused = QApplication.focusWidget()
    assert focused is not None and window.docks["training"].isAncestorOf(focused)
    assert not any(panel.isAncestorOf(focused) for pid, panel in window.panels.items() if pid != "training")
