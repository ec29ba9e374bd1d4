"""The main window: dockable panels, View/Training menus, message banner, saved layout."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QToolBar

from engines.train import events as ev

from . import workspace
from .actions import TrainingActions
from .docks import panel_classes
from .docks.base import Panel
from .messages import MessageBar
from .state import StudioState

APP_TITLE = "genstudio"
LAYOUT_VERSION = 6          # bump when panels change so an old saved layout is not misapplied
STOP_AND_SAVE, CANCEL_CLOSE = "stop", "cancel"


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
        self.resize(1400, 880)

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
        self._default_state = self.saveState(LAYOUT_VERSION)
        self.restore_layout()

        s = self.state
        s.message.connect(self.show_message)
        s.failed.connect(self._on_failed)
        s.train_warning.connect(self._on_warning)
        s.progress.connect(self._update_title)
        s.run_started.connect(self._on_run_started)
        s.training_state_changed.connect(self._update_title)
        s.run_ended.connect(self._on_run_ended)

    # --- panels -----------------------------------------------------------------------------------
    def _build_panels(self) -> None:
        for cls in panel_classes():
            panel = cls(self.state, self)
            dock = QDockWidget(cls.title, self)
            dock.setObjectName(f"dock_{cls.panel_id}")
            dock.setWidget(panel)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.panels[cls.panel_id] = panel
            self.docks[cls.panel_id] = dock
            if cls.tab_with and cls.tab_with in self.docks:
                self.tabifyDockWidget(self.docks[cls.tab_with], dock)
            elif cls.split_from and cls.split_from in self.docks:
                self.splitDockWidget(self.docks[cls.split_from], dock, cls.split_orientation)
            else:
                self.addDockWidget(cls.area, dock)
        self._resize(Qt.Orientation.Horizontal, {"dataset": 400, "losses": 520, "gallery": 480})
        self._resize(Qt.Orientation.Vertical, {"dataset": 430, "losses": 600, "training": 150})

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
        for dock in self.docks.values():
            self.view_menu.addAction(dock.toggleViewAction())
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

    # --- layout -----------------------------------------------------------------------------------
    def restore_layout(self) -> bool:
        geometry = self.settings.value("window/geometry")
        layout = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
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

    # --- messages ---------------------------------------------------------------------------------
    def show_message(self, level: str, text: str, details: str = "", actions=None):
        return self.message_bar.show_message(level, text, details, actions)

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
        s = self.state
        if s.training_state == "idle":
            self.setWindowTitle(APP_TITLE)
            return
        percent = self._percent
        if isinstance(_args[0] if _args else None, ev.Progress):
            p = _args[0]
            percent = self._percent = int(100 * p.step / max(p.total_steps, 1))
        status = {"paused": "paused ", "stopping": "stopping ", "starting": "starting "}.get(s.training_state, "")
        self.setWindowTitle(f"{APP_TITLE} — {status}{percent}% {s.family_name}")

    _percent = 0

    def _on_run_started(self, event: ev.Started) -> None:
        self._percent = int(100 * event.start_step / max(event.total_steps, 1))
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
        for panel in self.panels.values():
            panel.shutdown()
        self.tensorboard.shutdown()
        self.state.shutdown()
