"""A row of buttons that wraps onto more lines in a narrow dock instead of forcing the window wider."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QSizePolicy, QStyle, QWidget


class FlowLayout(QLayout):
    """Items left to right, wrapping to a new line when the next does not fit. Its minimum width is the
    widest item's, and its height follows the width (heightForWidth), so docks can shrink."""

    def __init__(self, parent: QWidget | None = None, spacing: int = -1):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        if parent is None:
            self.setContentsMargins(0, 0, 0, 0)

    # --- QLayout's item list ---------------------------------------------------------------------------
    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    # --- sizes -----------------------------------------------------------------------------------------
    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def sizeHint(self) -> QSize:  # noqa: N802
        """Everything on one line."""
        m = self.contentsMargins()
        hints = [item.sizeHint() for item in self._visible()]
        width = sum(h.width() for h in hints) + self.horizontal_spacing() * max(len(hints) - 1, 0)
        height = max((h.height() for h in hints), default=0)
        return QSize(width + m.left() + m.right(), height + m.top() + m.bottom())

    def minimumSize(self) -> QSize:  # noqa: N802
        m = self.contentsMargins()
        size = QSize()
        for item in self._visible():
            size = size.expandedTo(item.minimumSize())
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    # --- layout ----------------------------------------------------------------------------------------
    def horizontal_spacing(self) -> int:
        return self._spacing if self._spacing >= 0 else self._style_spacing(Qt.Orientation.Horizontal)

    def vertical_spacing(self) -> int:
        return self._spacing if self._spacing >= 0 else self._style_spacing(Qt.Orientation.Vertical)

    def _style_spacing(self, orientation: Qt.Orientation) -> int:
        parent = self.parentWidget()
        if parent is None:
            return 6
        metric = (QStyle.PixelMetric.PM_LayoutHorizontalSpacing if orientation == Qt.Orientation.Horizontal
                  else QStyle.PixelMetric.PM_LayoutVerticalSpacing)
        spacing = parent.style().pixelMetric(metric, None, parent)
        if spacing < 0:
            spacing = parent.style().layoutSpacing(QSizePolicy.ControlType.PushButton,
                                                   QSizePolicy.ControlType.PushButton, orientation)
        return max(spacing, 0)

    def _visible(self) -> list[QLayoutItem]:
        return [i for i in self._items if not (i.widget() is not None and i.widget().isHidden())]

    def _arrange(self, rect: QRect, move: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, line_height = area.x(), area.y(), 0
        hs, vs = self.horizontal_spacing(), self.vertical_spacing()
        for item in self._visible():
            hint = item.sizeHint()
            if x > area.x() and x + hint.width() > area.right() + 1:
                x, y, line_height = area.x(), y + line_height + vs, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + hs
            line_height = max(line_height, hint.height())
        return y + line_height - rect.y() + m.bottom()
