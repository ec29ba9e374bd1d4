"""Forms generated from a typed config dataclass (engines.config.param fields).

One editor per field: QSpinBox for ints, a text box that understands 2e-4 for floats, QCheckBox for
bools, QComboBox for choices. Ranges come from the field; help becomes the tooltip. Every value is
checked with the engines' own `replace_checked`, so the form and the command line refuse the same
things with the same message. `config()` raises ConfigError while anything is invalid, and
`valid_changed` lets a panel disable its submit button.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator, QValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QLabel, QLineEdit, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from engines.config import ConfigError, FieldInfo, field_infos, replace_checked

from .widgets import wheel

INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int
INVALID_STYLE = "border: 1px solid #d9534f; background: #fbeaea; color: #1f2933;"  # readable in a dark theme too


def format_float(value: float) -> str:
    """Short, exact-enough text for a float: 0.0002 -> '0.0002', 2e-06 -> '2e-06'."""
    return f"{value:.6g}"


class FloatEdit(QLineEdit):
    """A line edit for floats in plain or scientific notation (2e-4), bounded by a validator."""

    def __init__(self, info: FieldInfo, parent: QWidget | None = None):
        super().__init__(parent)
        bottom = -1e308 if info.min is None else float(info.min)
        top = 1e308 if info.max is None else float(info.max)
        validator = QDoubleValidator(bottom, top, 12, self)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        validator.setLocale(self.locale().c())  # always '.', whatever the desktop's locale
        self.setValidator(validator)

    def set_value(self, value: float) -> None:
        self.setText(format_float(float(value)))


class RangeSpinBox(QSpinBox):
    """A spin box that lets a number outside its range be typed and says so, instead of refusing the
    last key (typing 300 where the maximum is 256 would otherwise silently leave 30).

    While such a number is in the box, `hasAcceptableInput()` is False (a form shows its error); when
    editing ends it goes back to the previous value and `out_of_range` carries a sentence with the range."""

    out_of_range = Signal(str)
    typed = Signal(str)   # every change of the text, also to a number out of range (not yet a value)

    def __init__(self, *args, name: str = "the value", **kwargs):
        super().__init__(*args, **kwargs)
        self.name = name
        self.lineEdit().textChanged.connect(self.typed)

    def _number(self, text: str) -> int | None:
        text = text.removeprefix(self.prefix()).removesuffix(self.suffix()).strip()
        try:
            return int(text)
        except ValueError:
            return None

    def validate(self, text: str, pos: int):  # noqa: D102
        result = super().validate(text, pos)
        state = result[0] if isinstance(result, tuple) else result
        if state == QValidator.State.Invalid and self._number(text) is not None:
            return (QValidator.State.Intermediate, text, pos)
        return result

    def range_sentence(self, typed: int) -> str:
        unit = self.suffix().strip()
        return (f"{self.name[:1].upper() + self.name[1:]} must be between {self.minimum()} and "
                f"{self.maximum()}{' ' + unit if unit else ''}; {typed} is out of range.")

    def fixup(self, text: str) -> str:  # noqa: D102
        typed = self._number(text)
        if typed is not None and not self.minimum() <= typed <= self.maximum():
            self.out_of_range.emit(self.range_sentence(typed))
        return super().fixup(text)


class FieldEditor:
    """One field's editor widget plus how to read, write and watch it."""

    def __init__(self, info: FieldInfo, on_change: Callable[[], None]):
        self.info = info
        self.widget = self._build(info, on_change)
        wheel.guard(self.widget)   # the wheel scrolls the panel unless this field has focus
        self.widget.setToolTip(self._tooltip(info))
        self.widget.setObjectName(f"field_{info.name}")

    @staticmethod
    def _tooltip(info: FieldInfo) -> str:
        rng = []
        if info.min is not None:
            rng.append(f"min {info.min:g}")
        if info.max is not None:
            rng.append(f"max {info.max:g}")
        return info.help + (f" ({', '.join(rng)})" if rng else "")

    def _build(self, info: FieldInfo, on_change: Callable[[], None]) -> QWidget:
        if info.choices is not None:
            w = QComboBox()
            for choice in info.choices:
                w.addItem(str(choice), choice)
            w.currentIndexChanged.connect(lambda _i: on_change())
            return w
        if info.type is bool:
            w = QCheckBox()
            w.toggled.connect(lambda _b: on_change())
            return w
        if info.type is int:
            w = RangeSpinBox(name=info.label)
            w.setRange(int(max(info.min if info.min is not None else -INT_LIMIT, -INT_LIMIT)),
                       int(min(info.max if info.max is not None else INT_LIMIT, INT_LIMIT)))
            w.setKeyboardTracking(True)
            w.setGroupSeparatorShown(False)
            w.valueChanged.connect(lambda _v: on_change())
            w.typed.connect(lambda _t: on_change())  # also text out of range, not yet a value
            return w
        if info.type is float:
            w = FloatEdit(info)
            w.textChanged.connect(lambda _t: on_change())
            return w
        w = QLineEdit()
        if info.type is not str:  # tuples and exotic types: shown, not edited here
            w.setReadOnly(True)
        w.textChanged.connect(lambda _t: on_change())
        return w

    def set_value(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QComboBox):
            index = w.findData(value)
            w.setCurrentIndex(max(index, 0))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value))
        elif isinstance(w, FloatEdit):
            w.set_value(value)
        else:
            w.setText(", ".join(map(str, value)) if isinstance(value, tuple) else str(value))

    def raw_value(self) -> Any:
        """The editor's content as the form holds it (a string for text boxes); checked later."""
        w = self.widget
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            # text the person is still typing may not be committed to value() yet
            return w.valueFromText(w.cleanText()) if w.hasAcceptableInput() else w.cleanText()
        if isinstance(w, FloatEdit):
            return w.text()
        return w.text()

    def editable(self) -> bool:
        return not (isinstance(self.widget, QLineEdit) and self.widget.isReadOnly())


class CollapsibleSection(QWidget):
    """A header button that shows or hides its content (used for "Advanced")."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.toggle = QToolButton(text=title, checkable=True, checked=False)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAutoRaise(True)
        self.content = QWidget()
        self.content.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(self.content)
        self.toggle.toggled.connect(self.set_expanded)

    def set_expanded(self, expanded: bool) -> None:
        self.toggle.setChecked(expanded)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.content.setVisible(expanded)


class ConfigForm(QWidget):
    """Editors for every field of a config dataclass; `config()` returns a checked instance."""

    changed = Signal()             # any edit
    valid_changed = Signal(bool)

    def __init__(self, config_class: type, basic: Iterable[str] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.config_class = config_class
        self._defaults = config_class()
        self._editors: dict[str, FieldEditor] = {}
        self._rows: dict[str, QFormLayout] = {}   # the form each editor sits in (to hide its row)
        self._errors: dict[str, str] = {}
        self._valid = True
        self._loading = False
        basic_names = set(basic) if basic is not None else None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        main_form = QFormLayout()
        self.advanced = CollapsibleSection("Advanced")
        advanced_form = QFormLayout(self.advanced.content)
        advanced_form.setContentsMargins(12, 0, 0, 0)
        self.error_label = QLabel()
        self.error_label.setObjectName("form_error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c9302c;")
        self.error_label.setVisible(False)

        has_advanced = False
        for info in field_infos(config_class):
            editor = FieldEditor(info, self._on_edit)
            self._editors[info.name] = editor
            label = QLabel(info.label[:1].upper() + info.label[1:])
            label.setToolTip(editor.widget.toolTip())
            is_advanced = info.advanced or (basic_names is not None and info.name not in basic_names)
            form = advanced_form if is_advanced else main_form
            form.addRow(label, editor.widget)
            self._rows[info.name] = form
            has_advanced |= is_advanced
        layout.addLayout(main_form)
        layout.addWidget(self.advanced)
        self.advanced.setVisible(has_advanced)
        layout.addWidget(self.error_label)
        self.set_config(self._defaults)

    # --- reading and writing ----------------------------------------------------------------
    def editor(self, name: str) -> QWidget:
        return self._editors[name].widget

    def shown(self, name: str) -> bool:
        """Whether the field's row is shown: it matters for the other fields' current values."""
        return self._editors[name].info.applies(self._raw_values())

    def _raw_values(self) -> dict[str, Any]:
        return {name: ed.raw_value() for name, ed in self._editors.items()}

    def _show_relevant(self) -> None:
        """Hide the rows of settings that do not apply (e.g. the gradient penalty without WGAN-GP)."""
        values = self._raw_values()
        for name, editor in self._editors.items():
            if editor.info.when:
                self._rows[name].setRowVisible(editor.widget, editor.info.applies(values))

    def set_config(self, config) -> None:
        self._loading = True
        try:
            for name, editor in self._editors.items():
                editor.set_value(getattr(config, name))
        finally:
            self._loading = False
        self._on_edit()

    def reset(self) -> None:
        self.set_config(self._defaults)

    def is_valid(self) -> bool:
        return self._valid

    def errors(self) -> dict[str, str]:
        return dict(self._errors)

    def config(self):
        """A checked config from the editors; ConfigError (naming the field) while invalid."""
        if self._errors:
            raise ConfigError(next(iter(self._errors.values())))
        return self._build()

    def _build(self):
        values = {name: ed.raw_value() for name, ed in self._editors.items() if ed.editable()}
        return replace_checked(self._defaults, **values)

    # --- validation -----------------------------------------------------------------------------
    def _on_edit(self) -> None:
        if self._loading:
            return
        self._show_relevant()
        errors: dict[str, str] = {}
        for name, editor in self._editors.items():
            if not editor.editable():
                continue
            try:
                replace_checked(self._defaults, **{name: editor.raw_value()})
            except ConfigError as exc:
                errors[name] = str(exc)
            except Exception as exc:  # noqa: BLE001 - a cross-field check() may raise anything
                errors[name] = str(exc)
        if not errors:
            try:  # cross-field rules (a config's check()) only once every field is fine alone
                self._build()
            except (ConfigError, ValueError) as exc:
                errors["_form"] = str(exc)
        self._errors = errors
        for name, editor in self._editors.items():
            editor.widget.setStyleSheet(INVALID_STYLE if name in errors else "")
        self.error_label.setText("\n".join(errors.values()))
        self.error_label.setVisible(bool(errors))
        valid = not errors
        self.changed.emit()
        if valid != self._valid:
            self._valid = valid
            self.valid_changed.emit(valid)
