"""A banner of messages across the top of the main window: info, warnings, errors with details."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QPlainTextEdit, QPushButton,
                               QToolButton, QVBoxLayout, QWidget)

from .widgets.text import ElidedLabel

COLOURS = {"info": ("#e8f1fb", "#2a6ebb"), "warning": ("#fff6e0", "#b7791f"), "error": ("#fdecea", "#c9302c")}
COLOURS["busy"] = COLOURS["info"]   # work under way ("Exporting…"): stays until its outcome replaces it
MAX_MESSAGES = 4
INFO_SECONDS = 8.0                  # an informational message without buttons goes away by itself


class DetailsDialog(QDialog):
    def __init__(self, title: str, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(720, 420)
        layout = QVBoxLayout(self)
        self.text = QPlainTextEdit(text, readOnly=True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class Message(QWidget):
    """One message: icon-coloured text, optional action buttons, a close button."""

    closed = Signal()

    def __init__(self, level: str, text: str, details: str = "",
                 actions: list[tuple[str, Callable[[], None]]] | None = None, parent: QWidget | None = None,
                 topic: str = ""):
        super().__init__(parent)
        self.level, self.text, self.details, self.topic = level, text, details, topic
        self.expiry: QTimer | None = None
        self.dismissed = False
        self.details_dialog: DetailsDialog | None = None
        bg, fg = COLOURS.get(level, COLOURS["info"])
        self.setObjectName("message")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        # dark text on the light tint in a dark theme too
        self.setStyleSheet(f"#message {{ background: {bg}; border-left: 4px solid {fg}; }} "
                           f"#message QLabel {{ color: #1f2933; }}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 3, 4, 3)
        # one line, cut to the banner's width: a long message never widens the window (it went off the
        # screen once); the whole text is in the tooltip and behind "Details…"
        self.label = ElidedLabel(text)
        layout.addWidget(self.label, 1)
        self.buttons: dict[str, QPushButton] = {}
        for name, callback in actions or []:
            self._add_button(name, callback)
        self._add_button("Details…", self.show_details)
        self.buttons["Details…"].setVisible(bool(details) or self.label.elided)
        if not details:
            self.label.elided_changed.connect(self.buttons["Details…"].setVisible)
        close = QToolButton(text="✕", autoRaise=True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout.addWidget(close)

    def _add_button(self, name: str, callback: Callable[[], None]) -> None:
        button = QPushButton(name)
        button.clicked.connect(lambda _checked=False: callback())
        self.layout().addWidget(button)
        self.buttons[name] = button

    def show_details(self) -> None:
        if self.details_dialog is None:
            body = self.text + ("\n\n" + self.details if self.details else "")
            self.details_dialog = DetailsDialog("Details", body, self)
        self.details_dialog.show()
        self.details_dialog.raise_()

    def expire_after(self, seconds: float) -> None:
        self.expiry = QTimer(self, singleShot=True, interval=int(seconds * 1000))
        self.expiry.timeout.connect(self.dismiss)
        self.expiry.start()

    def dismiss(self) -> None:
        if self.dismissed:  # an expiry and a click, or a replacement, can both ask
            return
        self.dismissed = True
        self.hide()
        self.closed.emit()
        self.deleteLater()


class MessageBar(QWidget):
    """Stacked messages; the newest at the bottom; hidden when empty.

    A message may name a `topic` (the action it reports on, e.g. "export:gallery"): a newer message on
    the same topic replaces it, so "Exported …" replaces "Exporting …" and a success replaces the
    failure before it. Info messages without buttons expire after `info_seconds`; warnings, errors and
    "busy" messages stay until dismissed or replaced."""

    emptied = Signal()
    shown = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self.messages: list[Message] = []
        self.info_seconds = INFO_SECONDS

    def show_message(self, level: str, text: str, details: str = "",
                     actions: list[tuple[str, Callable[[], None]]] | None = None, topic: str = "") -> Message:
        if topic:
            self.dismiss_topic(topic)
        message = Message(level, text, details, actions, self, topic)
        if level == "info" and not actions and not details:
            message.expire_after(self.info_seconds)
        message.closed.connect(lambda m=message: self._forget(m))
        self.messages.append(message)
        self._layout.addWidget(message)
        while len(self.messages) > MAX_MESSAGES:
            self.messages[0].dismiss()
        self.shown.emit()
        return message

    def _forget(self, message: Message) -> None:
        if message in self.messages:
            self.messages.remove(message)
        if not self.messages:
            self.emptied.emit()

    def dismiss_topic(self, topic: str) -> None:
        for m in [m for m in self.messages if m.topic == topic]:
            m.dismiss()

    def clear(self) -> None:
        for m in list(self.messages):
            m.dismiss()

    def texts(self) -> list[str]:
        return [m.text for m in self.messages]
