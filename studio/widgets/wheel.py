"""The mouse wheel scrolls panels; it changes a setting only in the field a person has clicked into.

Without this, scrolling down the Model panel turned "Train for" from steps to minutes and batch size
64 into 63 as fields passed under the pointer, and scrolling the Style panel zoomed its loss plot.
A filter on each such widget (guard_tree at build, forms as they are made): a wheel event over an unfocused spin box, combo box or slider, or over
a plot inside a panel that can scroll, goes to the panel's scroll area instead.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import (QAbstractScrollArea, QAbstractSlider, QAbstractSpinBox, QComboBox,
                               QGraphicsView, QScrollArea, QScrollBar, QWidget)

FIELDS = (QAbstractSpinBox, QComboBox, QAbstractSlider)
WHEEL = QEvent.Type.Wheel


def _field(widget: QWidget) -> QWidget | None:
    """The spin box / combo box / slider the event is for (a spin box's line edit is its child)."""
    for w in (widget, widget.parentWidget()):
        if isinstance(w, FIELDS) and not isinstance(w, QScrollBar):
            return w
    return None


def _plot(widget: QWidget) -> QGraphicsView | None:
    """The pyqtgraph view whose viewport (or itself) gets the event."""
    for w in (widget, widget.parentWidget()):
        if isinstance(w, QGraphicsView):
            return w
    return None


def _scroll_area(widget: QWidget) -> QScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    return parent


def _can_scroll(area: QAbstractScrollArea) -> bool:
    bar = area.verticalScrollBar()
    return bar.maximum() > bar.minimum()


class WheelGuard(QObject):
    """The event filter (see the module docstring). `passed_on` counts redirected events."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.passed_on = 0

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() != WHEEL or not isinstance(obj, QWidget):
            return False
        field = _field(obj)
        if field is not None:
            if field.hasFocus() or (isinstance(field, QAbstractSpinBox) and field.lineEdit() is not None
                                    and field.lineEdit().hasFocus()):
                return False
            return self._pass_on(field, event)
        view = _plot(obj)
        if view is not None and not (event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            area = _scroll_area(view)
            if area is not None and _can_scroll(area):
                return self._pass_on(view, event, area)
        return False

    def _pass_on(self, widget: QWidget, event, area: QScrollArea | None = None) -> bool:
        """Give the event to the scroll area around `widget` (or nobody): True = the widget never sees it."""
        area = area or _scroll_area(widget)
        self.passed_on += 1
        if area is not None:
            QCoreApplication.sendEvent(area.viewport(), event)
        return True


_guard: WheelGuard | None = None


def _the_guard() -> WheelGuard:
    global _guard
    if _guard is None:
        _guard = WheelGuard()
    return _guard


def guard(widget: QWidget) -> None:
    """Put one field or plot under the rule (idempotent). Cheaper than an application-wide filter,
    which would run Python for every event of every widget."""
    target = widget.viewport() if isinstance(widget, QGraphicsView) else widget
    if target.property("genstudio_wheel_guard"):
        return
    target.setProperty("genstudio_wheel_guard", True)
    target.installEventFilter(_the_guard())
    if isinstance(widget, FIELDS):
        # the wheel no longer gives focus either: a click or Tab does
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


def guard_tree(root: QWidget) -> int:
    """Guard every spin box, combo box, slider and plot under `root`; returns how many there are."""
    widgets = [w for w in root.findChildren(QWidget)
               if (isinstance(w, FIELDS) and not isinstance(w, QScrollBar)) or isinstance(w, QGraphicsView)]
    for w in widgets:
        guard(w)
    return len(widgets)


def passed_on() -> int:
    """Wheel events redirected so far (tests)."""
    return _the_guard().passed_on
