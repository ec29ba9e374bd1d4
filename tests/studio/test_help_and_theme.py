"""Help menu (About with versions, README, shortcuts), the CPU threads setting in the Training panel,
and the dark theme that follows the system, plots included."""

import PySide6
import torch

from engines.runtime.threads import auto_threads


def test_about_names_the_versions_and_the_shortcuts_list_the_training_keys(qtbot, window):
    from studio.main_window import about_text

    titles = [a.text() for a in window.help_menu.actions()]
    assert titles == ["&Keyboard shortcuts", "Open the &README", "", "&About genstudio"]
    text = about_text()
    assert torch.__version__ in text and PySide6.__version__ in text and "genstudio" in text
    shortcuts = dict(window.shortcut_list())
    assert shortcuts["Start training"] and "Keyboard shortcuts" in shortcuts
    dialog = window.show_shortcuts()
    assert dialog.isVisible() and dialog.windowTitle() == "Keyboard shortcuts"
    dialog.close()


def test_open_the_readme_opens_the_projects_readme(qtbot, window):
    opened = []
    window.open_url = lambda url: opened.append(url.toLocalFile()) or True
    window.help_menu.actions()[1].trigger()
    assert len(opened) == 1 and opened[0].endswith("README.md")
    with open(opened[0], encoding="utf-8") as f:
        assert f.readline().startswith("# genstudio")


def test_the_training_panel_sets_cpu_threads_and_the_model_form_follows(qtbot, window):
    panel, model, state = window.panels["training"], window.panels["model"], window.state
    assert panel.threads_box.value() == 0 and panel.threads_box.text() == f"auto ({auto_threads()})"
    panel.threads_box.setValue(3)
    assert state.settings.threads == 3 and model.settings_form.config().threads == 3
    model.settings_form.editor("threads").setValue(1)
    assert state.settings.threads == 1 and panel.threads_box.value() == 1


def test_the_training_panel_shows_what_automatic_threads_chose(qtbot, window):
    from engines.train import events as ev

    panel, state = window.panels["training"], window.state
    state.note.emit(ev.Note(12, "2 → 1 thread: the machine is busy (1 thread trains 3.0× faster than 2)", "threads"))
    assert panel.threads_box.text() == "auto (1)" and "machine is busy" in panel.threads_box.toolTip()


def test_a_dark_system_gets_a_dark_palette_and_dark_plots(qtbot, window, monkeypatch):
    import pyqtgraph as pg
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from studio import theme

    app = QApplication.instance()
    monkeypatch.setenv(theme.THEME_ENV, "dark")
    try:
        assert theme.apply(app) == "dark"
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 80
        views = window.findChildren(pg.GraphicsView)
        assert views and all(v.backgroundBrush().color().lightness() < 80 for v in views)
        monkeypatch.setenv(theme.THEME_ENV, "light")
        assert theme.apply(app) == "light"
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 150
        assert all(v.backgroundBrush().color().lightness() > 200 for v in window.findChildren(pg.GraphicsView))
    finally:
        monkeypatch.delenv(theme.THEME_ENV)
        theme.apply(app, "light")
