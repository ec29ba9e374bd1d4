"""What every panel is: a QWidget built from the shared StudioState, placed by the main window."""

from __future__ import annotations

from typing import ClassVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QScrollArea, QWidget

LEFT = Qt.DockWidgetArea.LeftDockWidgetArea
RIGHT = Qt.DockWidgetArea.RightDockWidgetArea
TOP = Qt.DockWidgetArea.TopDockWidgetArea
BOTTOM = Qt.DockWidgetArea.BottomDockWidgetArea


class Panel(QWidget):
    """Subclasses set the class attributes and subscribe to `state` in __init__."""

    panel_id: ClassVar[str] = ""          # QDockWidget objectName: keys the saved layout; never rename
    title: ClassVar[str] = ""
    area: ClassVar[Qt.DockWidgetArea] = LEFT
    tab_with: ClassVar[str | None] = None  # panel_id to share a tab group with in the default layout
    split_from: ClassVar[str | None] = None  # panel_id to split next to in the default layout
    split_orientation: ClassVar[Qt.Orientation] = Qt.Orientation.Vertical

    def __init__(self, state, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state

    def reveal(self, widget: QWidget) -> None:
        """Scroll the dock (panels sit in scroll areas on small screens) so `widget` is in view."""
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if parent is not None:
            parent.ensureWidgetVisible(widget, 0, 0)

    def shutdown(self) -> None:
        """Called when the window closes: stop timers, drop big buffers."""


def job_progress_bar() -> QProgressBar:
    """The thin, hidden-until-busy progress bar under a panel's results."""
    bar = QProgressBar()
    bar.setMaximumHeight(14)
    bar.setTextVisible(False)
    bar.hide()
    return bar


def status_label() -> QLabel:
    """The wrapping one-line status under a panel's results."""
    label = QLabel("")
    label.setWordWrap(True)
    return label
