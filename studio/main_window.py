"""The main window: dockable panels, View/Training menus, message banner, saved layout."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QDockWidget, QFrame, QMainWindow, QMessageBox,
                               QScrollArea, QTabBar, QTableWidget, QTableWidgetItem, QToolBar, QVBoxLayout,
                               QWidget)

from engines.train import events as ev

from . import workspace
from .actions import TrainingActions
from .docks import panel_classes
from .docks.base import Panel
from .messages import MessageBar
from .state import StudioState
from .widgets import wheel
from .widgets.plots import forget_views

APP_TITLE = "genstudio"
LAYOUT_VERSION = 8          # bump when panels change so an old saved layout is not misapplied
# Below this available screen size (a 1366×768 or 1280×720 laptop) the default layout tabs Model and Runs
# with Dataset, so each panel of the left column gets the column's full height.
SMALL_SCREEN = (1440, 860)
STOP_AND_SAVE, CANCEL_CLOSE = "stop", "cancel"


def versions() -> dict[str, str]:
    """What this studio runs on, for About and bug reports."""
    import platform
    from importlib import metadata

    import PySide6
    import torch
    from PySide6.QtCore import qVersion

    try:
        own = metadata.version("genstudio")
    except metadata.PackageNotFoundError:
        own = "source checkout"
    from engines.runtime.torch_build import describe

    return {"genstudio": own, "PyTorch": torch.__version__, **describe(), "Qt": qVersion(),
            "PySide6": PySide6.__version__, "Python": platform.python_version()}


def about_text() -> str:
    lines = "".join(f"<tr><td>{name}</td><td>&nbsp;{version}</td></tr>" for name, version in versions().items())
    return ("<p><b>genstudio</b>: a desktop studio for training and exploring generative image models on "
            f"your own image folders.</p><table>{lines}</table>")


def readme_path():
    """The README beside the studio's source (a source checkout or an editable install), or None."""
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    return readme if readme.is_file() else None


def _scrolling(panel: QWidget) -> QScrollArea:
    """The panel in a frameless scroll area: a dock smaller than its panel's minimum scrolls instead of
    forcing the window wider or taller than a laptop screen; larger, the panel fills it as before."""
    scroll = QScrollArea()
    scroll.setObjectName(f"scroll_{panel.panel_id}")
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidgetResizable(True)
    scroll.setWidget(panel)
    return scroll


class MainWindow(QMainWindow):
    def __init__(self, state: StudioState | None = None, settings=None):
        super().__init__()
        self.state = state or StudioState(self)
        self.settings = settings if settings is not None else workspace.make_settings()
        # Asked when closing during training; returns STOP_AND_SAVE or CANCEL_CLOSE (tests replace it).
        self.close_policy: Callable[[], str] = self._ask_close_policy
        self._close_after_stop = False
        self._closed = False
        self.setObjectName("main_window")
        self.setWindowTitle(APP_TITLE)
        self.setDockNestingEnabled(True)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.TopLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        available = self._available_size()
        self.small_screen = available[0] < SMALL_SCREEN[0] or available[1] < SMALL_SCREEN[1]
        # The window manager's title bar and frame come on top of the size given here.
        self.resize(min(1400, available[0]), min(880, available[1] - 40))

        self.state.actions = TrainingActions(self.state, self)
        self.message_bar = MessageBar()
        self.banner = QToolBar("Messages")
        self.banner.setObjectName("messages")
        self.banner.setMovable(False)
        self.banner.setFloatable(False)
        self.banner.toggleViewAction().setVisible(False)
        self.banner.addWidget(self.message_bar)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.banner)
        self.banner.hide()
        self.message_bar.shown.connect(self.banner.show)
        self.message_bar.emptied.connect(self.banner.hide)

        self.panels: dict[str, Panel] = {}
        self.docks: dict[str, QDockWidget] = {}
        self._build_panels()
        self._build_menus()
        # the wheel scrolls panels; it changes only a field a person clicked into (widgets made later, such
        # as a form rebuilt for another family, are guarded when their dock is shown again)
        wheel.guard_tree(self)
        for dock in self.docks.values():
            dock.visibilityChanged.connect(lambda visible, d=dock: visible and wheel.guard_tree(d))
        self._default_state = self.saveState(LAYOUT_VERSION)
        self.restore_layout()
        self._tidy_tab_bars()
        self.tabifiedDockWidgetActivated.connect(lambda _dock: self._tidy_tab_bars())

        # A control that is disabled while it has focus (Start, once pressed) hands focus on to the next
        # one in the chain, often in another panel (the Model form): keep it in the panel it was in
        app = QApplication.instance()
        if app is not None:
            app.focusChanged.connect(self._keep_focus_in_panel)

        s = self.state
        s.message.connect(self.show_message)
        s.notice.connect(self._on_notice)
        s.failed.connect(self._on_failed)
        s.train_warning.connect(self._on_warning)
        s.progress.connect(self._update_title)
        s.run_started.connect(self._on_run_started)
        # A success takes the failure of the same action off the banner.
        s.run_started.connect(lambda _event: self.message_bar.dismiss_topic("start"))
        s.dataset_changed.connect(lambda dataset: dataset is not None and self.message_bar.dismiss_topic("load"))
        s.training_state_changed.connect(self._update_title)
        s.run_ended.connect(self._on_run_ended)

    # --- panels -----------------------------------------------------------------------------------
    def _build_panels(self) -> None:
        for cls in panel_classes():
            panel = cls(self.state, self)
            dock = QDockWidget(cls.title, self)
            dock.setObjectName(f"dock_{cls.panel_id}")
            dock.setWidget(_scrolling(panel))
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.panels[cls.panel_id] = panel
            self.docks[cls.panel_id] = dock
            tab_with = "dataset" if self.small_screen and cls.panel_id == "model" else cls.tab_with
            if tab_with and tab_with in self.docks:
                self.tabifyDockWidget(self.docks[tab_with], dock)
            elif cls.split_from and cls.split_from in self.docks:
                self.splitDockWidget(self.docks[cls.split_from], dock, cls.split_orientation)
            else:
                self.addDockWidget(cls.area, dock)
        for first in ("gallery", "losses", "dataset"):  # the panels in front of their tab groups
            if first in self.docks:
                self.docks[first].raise_()
        if self.small_screen:
            self._resize(Qt.Orientation.Horizontal, {"dataset": 340, "losses": 420, "gallery": 440})
            self._resize(Qt.Orientation.Vertical, {"losses": 500, "training": 135})
        else:
            self._resize(Qt.Orientation.Horizontal, {"dataset": 400, "losses": 520, "gallery": 480})
            self._resize(Qt.Orientation.Vertical, {"dataset": 430, "losses": 600, "training": 150})

    def _available_size(self) -> tuple[int, int]:
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return 1920, 1080
        geometry = screen.availableGeometry()
        return geometry.width(), geometry.height()

    def _resize(self, orientation: Qt.Orientation, sizes: dict[str, int]) -> None:
        present = [k for k in sizes if k in self.docks]
        self.resizeDocks([self.docks[k] for k in present], [sizes[k] for k in present], orientation)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        dataset = self.panels.get("dataset")
        if dataset is not None:
            open_action = file_menu.addAction("&Open folder…")
            open_action.setShortcut(QKeySequence.StandardKey.Open)
            open_action.triggered.connect(dataset.open_folder)
        sample = file_menu.addAction("Load &sample digits")
        sample.triggered.connect(self.state.load_sample)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        self.view_menu = bar.addMenu("&View")
        for panel_id, dock in self.docks.items():
            # A panel closed or behind another tab comes to the front (shown, its tab raised, its window
            # activated when floating); one already in front is hidden, as before
            action = dock.toggleViewAction()
            action.triggered.disconnect()
            action.triggered.connect(lambda checked, p=panel_id: self._view_entry(p, checked))
            action.setToolTip(f"Show the {dock.windowTitle()} panel in front (hide it when it is)")
            self.view_menu.addAction(action)
        self.view_menu.addSeparator()
        self.reset_layout_action = QAction("&Reset layout", self)
        self.reset_layout_action.triggered.connect(self.reset_layout)
        self.view_menu.addAction(self.reset_layout_action)
        from .tensorboard_view import TensorBoardLauncher
        self.tensorboard = TensorBoardLauncher(workspace.runs_root, self.show_message, self)
        self.tensorboard_action = self.view_menu.addAction("Open &TensorBoard")
        self.tensorboard_action.setToolTip("Every run's losses, measures and sample grids in TensorBoard")
        self.tensorboard_action.triggered.connect(self.tensorboard.open)

        self.training_menu = bar.addMenu("&Training")
        for action in self.state.actions.all():
            self.training_menu.addAction(action)
            self.addAction(action)  # shortcuts work even when the menu bar is hidden

        self.help_menu = bar.addMenu("&Help")
        shortcuts = self.help_menu.addAction("&Keyboard shortcuts")
        shortcuts.setShortcut(QKeySequence.StandardKey.HelpContents)
        shortcuts.triggered.connect(self.show_shortcuts)
        self.addAction(shortcuts)
        readme = self.help_menu.addAction("Open the &README")
        readme.triggered.connect(self.open_readme)
        self.help_menu.addSeparator()
        about = self.help_menu.addAction("&About genstudio")
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(lambda: QMessageBox.about(self, "About genstudio", about_text()))
        # how a file is opened (the desktop's viewer); tests replace it
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl

    # --- help -------------------------------------------------------------------------------------
    def shortcut_list(self) -> list[tuple[str, str]]:
        """(what, keys) for every menu action with a shortcut, in menu order."""
        out = []
        for menu in (self.menuBar().actions()):
            for action in menu.menu().actions() if menu.menu() else []:
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                if keys:
                    out.append((action.text().replace("&", ""), keys))
        return out

    def show_shortcuts(self) -> QDialog:
        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard shortcuts")
        table = QTableWidget(0, 2, dialog)
        table.setHorizontalHeaderLabels(["Action", "Keys"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for what, keys in self.shortcut_list():
            row = table.rowCount()
            table.insertRow(row)
            table.setItem(row, 0, QTableWidgetItem(what))
            table.setItem(row, 1, QTableWidgetItem(keys))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=dialog)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(table)
        layout.addWidget(buttons)
        dialog.resize(420, 360)
        dialog.show()
        return dialog

    def open_readme(self) -> None:
        readme = readme_path()
        if readme is None:
            self.show_message("warning", "The README is not installed with this copy of genstudio.", topic="help")
        elif not self.open_url(QUrl.fromLocalFile(str(readme))):
            self.show_message("warning", f"Could not open {readme}; open it in a text editor or browser.",
                              topic="help")

    # --- layout -----------------------------------------------------------------------------------
    def restore_layout(self) -> bool:
        """The saved geometry and docks, unless the saved window is larger than this screen (a layout
        saved after something widened the window, or on a bigger monitor): then the default layout."""
        geometry = self.settings.value("window/geometry")
        layout = self.settings.value("window/state")
        if geometry is not None:
            default_size = self.size()
            self.restoreGeometry(geometry)
            width, height = self._available_size()
            if self.width() > width or self.height() > height:
                self.setGeometry(self.x(), self.y(), default_size.width(), default_size.height())
                self.move(0, 0)
                return False
        ok = layout is not None and self.restoreState(layout, LAYOUT_VERSION)
        return bool(ok)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self._tidy_tab_bars()

    def _view_entry(self, panel_id: str, checked: bool) -> None:
        dock = self.docks[panel_id]
        in_front = not checked and dock.isVisible() and not dock.visibleRegion().isEmpty()
        if in_front:
            dock.hide()
        else:
            dock.toggleViewAction().setChecked(True)
            self.show_panel(panel_id)

    def _dock_of(self, widget) -> QDockWidget | None:
        while widget is not None and not isinstance(widget, QDockWidget):
            widget = widget.parentWidget()
        return widget if widget is not None and widget.parentWidget() is self else None

    def _keep_focus_in_panel(self, old, new) -> None:
        if old is None or new is None or self._closed or old.isEnabled():
            return
        home = self._dock_of(old)
        if home is not None and self._dock_of(new) is not home and home.widget() is not None:
            home.widget().setFocus(Qt.FocusReason.OtherFocusReason)

    def show_panel(self, panel_id: str) -> None:
        """Show a panel in front of its tab group (the View menu's entries)."""
        dock = self.docks[panel_id]
        dock.show()
        dock.raise_()
        if dock.isFloating():
            dock.activateWindow()
        self._tidy_tab_bars()

    def _tidy_tab_bars(self) -> None:
        """Whole panel names with scroll arrows in a crowded tab group, not "Ga…", "Tim…"."""
        for bar in self.findChildren(QTabBar):
            if bar.parent() is self:   # the tab bars of tabbed docks (not tabs inside panels)
                bar.setElideMode(Qt.TextElideMode.ElideNone)
                bar.setUsesScrollButtons(True)

    # --- messages ---------------------------------------------------------------------------------
    def show_message(self, level: str, text: str, details: str = "", actions=None, topic: str = ""):
        return self.message_bar.show_message(level, text, details, actions, topic)

    def _on_notice(self, level: str, text: str, details: str, topic: str) -> None:
        if text:
            self.show_message(level, text, details, topic=topic)
        else:
            self.message_bar.dismiss_topic(topic)

    def _on_failed(self, event: ev.Failed) -> None:
        where = f" at step {event.step}" if event.step else ""
        self.show_message("error", f"Training failed{where}: {event.message}", event.details)

    def _on_warning(self, event: ev.TrainWarning) -> None:
        actions = []
        if event.rollback and self.state.can_roll_back():
            actions.append(("Roll back", self.state.roll_back))
        if event.kind == "overfitting":  # open the best checkpoint in Sampler, Latent, ...
            actions.append(("Use best", self.state.use_best))
        self.show_message("warning", f"Step {event.step}: {event.message}", "", actions)

    # --- title ------------------------------------------------------------------------------------
    def _update_title(self, *_args) -> None:
        """"genstudio" when idle; "15% vae — genstudio" while training. The title ends with the application's
        display name, so the window system does not add it a second time ("genstudio — 15% vae — genstudio")."""
        s = self.state
        if s.training_state == "idle":
            self.setWindowTitle(APP_TITLE)
            return
        percent = self._percent
        if isinstance(_args[0] if _args else None, ev.Progress):
            p = _args[0]
            fraction = p.step / max(p.total_steps, 1)
            limit = self._time_limit_s
            if limit > 0:   # a run limited by time ends with its budget, whatever its step count
                fraction = max(fraction, (self._train_seconds + p.elapsed_s) / limit)
            percent = self._percent = min(100, int(100 * fraction))
        status = {"paused": "paused ", "stopping": "stopping ", "starting": "starting "}.get(s.training_state, "")
        self.setWindowTitle(f"{status}{percent}% {self._family or s.family_name} — {APP_TITLE}")

    _percent = 0
    _time_limit_s = 0.0
    _train_seconds = 0.0
    _family = ""

    def _on_run_started(self, event: ev.Started) -> None:
        self._percent = int(100 * event.start_step / max(event.total_steps, 1))
        self._time_limit_s, self._train_seconds = event.time_limit_s, event.train_seconds
        self._family = event.family
        self._update_title()

    # --- closing ----------------------------------------------------------------------------------
    def _ask_close_policy(self) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, "Training is running",
                          "A model is still training. Stop it and save a checkpoint before closing?",
                          parent=self)
        stop = box.addButton("Stop and save", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(stop)
        box.exec()
        return STOP_AND_SAVE if box.clickedButton() is stop else CANCEL_CLOSE

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.state.session.active:
            if self._close_after_stop or self.close_policy() == STOP_AND_SAVE:
                # Stop cooperatively: the loop saves a checkpoint and ends; we close once it has.
                self._close_after_stop = True
                self.state.stop()
                self.show_message("info", "Stopping training and saving a checkpoint; the window closes when done.")
            event.ignore()
            return
        self._finish_close()
        event.accept()

    def _on_run_ended(self) -> None:
        self._update_title()
        if self._close_after_stop:
            self.close()

    def _finish_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.save_layout()
        forget_views(self)   # before the panels close their plots: no pyqtgraph warning at quit
        for panel in self.panels.values():
            panel.shutdown()
        self.tensorboard.shutdown()
        self.state.shutdown()
