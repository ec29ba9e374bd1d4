"""Labels that never widen their window: one line, elided to the room it is given."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """One line of text cut with "…" to the width it gets; its size hints never ask for the whole text,
    so a long message cannot push a toolbar (or the window holding it) wider than the screen.
    `elided_changed(bool)` says when the text stops or starts fitting (a "Details…" button can follow it);
    the whole text is the tooltip while cut."""

    elided_changed = Signal(bool)
    MIN_WIDTH = 80
    PREFERRED_WIDTH = 480

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self._elided = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._full = str(text)
        super().setText(self._full)
        self._update_elision()

    def full_text(self) -> str:
        return self._full

    @property
    def elided(self) -> bool:
        return self._elided

    def sizeHint(self) -> QSize:  # noqa: N802
        hint = super().sizeHint()
        return QSize(min(hint.width(), self.PREFERRED_WIDTH), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.MIN_WIDTH), hint.height())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._update_elision()

    def _update_elision(self) -> None:
        elided = self.fontMetrics().horizontalAdvance(self._full) > self.contentsRect().width()
        self.setToolTip(self._full if elided else "")
        if elided != self._elided:
            self._elided = elided
            self.elided_changed.emit(elided)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, rect.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), text)
