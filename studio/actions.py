"""Training commands as QActions, shared by the Training menu, the panel's buttons and shortcuts."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence

from .state import IDLE, PAUSED, RUNNING, STARTING, STOPPING, StudioState


class TrainingActions(QObject):
    def __init__(self, state: StudioState, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.start = self._action("&Start training", "Ctrl+Return", "Train the chosen model on the loaded images",
                                  state.start)
        self.pause = self._action("&Pause", "Ctrl+P", "Pause (the model stays loaded) or resume",
                                  state.toggle_pause)
        self.stop = self._action("S&top", "Ctrl+.", "Stop after the current step and save a checkpoint",
                                 state.stop)
        self.save = self._action("Save &now", "Ctrl+S", "Write a checkpoint at the next step", state.save_now)
        state.training_state_changed.connect(self.update)
        state.config_changed.connect(self.update)
        state.inputs_changed.connect(self.update)
        state.family_changed.connect(self.update)
        state.dataset_changed.connect(self.update)
        state.loading_changed.connect(self.update)
        self.update()

    def _action(self, text: str, shortcut: str, tip: str, slot) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})")
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def all(self) -> list[QAction]:
        return [self.start, self.pause, self.stop, self.save]

    def update(self, *_args) -> None:
        s = self.state.training_state
        why_not = self.state.can_start()
        self.start.setEnabled(why_not is None)
        self.start.setToolTip("Train the chosen model on the loaded images (Ctrl+Return)" if why_not is None
                              else f"Cannot start: {why_not}")
        self.pause.setEnabled(s in (STARTING, RUNNING, PAUSED))
        self.pause.setText("&Resume" if s == PAUSED else "&Pause")
        self.stop.setEnabled(s in (STARTING, RUNNING, PAUSED))
        self.save.setEnabled(s in (RUNNING, PAUSED))
        _ = (IDLE, STOPPING)
