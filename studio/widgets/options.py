"""A run's sampling options as a form (Sampler and Latent panels), checked as the command line checks them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QSlider, QWidget

from engines.config import ConfigError, FieldInfo
from engines.sampling import check_sampling_options

from ..forms import INVALID_STYLE, FieldEditor, format_float

# sampling options the panel's own controls already cover (the class box picks the classes sample() draws)
COVERED_BY_PANEL = {"label"}
SLIDER_STEPS = 100  # a bounded float option's slider moves in hundredths of its range


def _slider_for(info: FieldInfo, editor: FieldEditor) -> QSlider | None:
    """A slider kept in step with a float option's text box, for options with a small finite range."""
    if info.type is not float or info.min is None or info.max is None or not 0 < info.max - info.min <= 10:
        return None
    lo, hi = float(info.min), float(info.max)
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, SLIDER_STEPS)
    slider.setObjectName(f"slider_{info.name}")
    slider.setToolTip(editor.widget.toolTip())
    text = editor.widget

    def from_text(_t=None) -> None:
        try:
            value = float(text.text())
        except ValueError:
            return
        slider.blockSignals(True)
        slider.setValue(round((min(max(value, lo), hi) - lo) / (hi - lo) * SLIDER_STEPS))
        slider.blockSignals(False)

    slider.valueChanged.connect(lambda v: text.setText(format_float(lo + (hi - lo) * v / SLIDER_STEPS)))
    text.textChanged.connect(from_text)
    from_text()
    return slider


class SamplingOptionsForm(QWidget):
    """Editors built from a run's sampling options (FieldInfo with the run's limits), checked with the
    engines' own check on every edit: `values()` raises ConfigError while anything is invalid."""

    def __init__(self, on_change, parent=None):
        super().__init__(parent)
        self._on_change = on_change
        self.fields: list[FieldInfo] = []
        self.editors: dict[str, FieldEditor] = {}
        self.sliders: dict[str, QSlider] = {}
        self.error: str | None = None
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)

    def set_fields(self, fields: list[FieldInfo]) -> None:
        while self.layout_.rowCount():
            self.layout_.removeRow(0)
        self.fields = [f for f in fields if f.name not in COVERED_BY_PANEL]
        self.editors, self.sliders = {}, {}
        for info in self.fields:
            editor = FieldEditor(info, self._edited)
            editor.set_value(info.default)
            self.editors[info.name] = editor
            label = QLabel(info.label[:1].upper() + info.label[1:])
            label.setToolTip(editor.widget.toolTip())
            slider = _slider_for(info, editor)
            if slider is None:
                self.layout_.addRow(label, editor.widget)
                continue
            self.sliders[info.name] = slider
            row = QHBoxLayout()
            editor.widget.setMaximumWidth(70)
            row.addWidget(slider, 1)
            row.addWidget(editor.widget)
            self.layout_.addRow(label, row)
        self._edited()

    def editor(self, name: str) -> QWidget:
        return self.editors[name].widget

    def _edited(self) -> None:
        self.error = None
        bad = set()
        for name, editor in self.editors.items():
            try:
                check_sampling_options(self.fields, {name: editor.raw_value()})
            except ConfigError as exc:
                self.error = self.error or str(exc)
                bad.add(name)
        for name, editor in self.editors.items():
            editor.widget.setStyleSheet(INVALID_STYLE if name in bad else "")
        self._on_change()

    def values(self) -> dict:
        """The typed options; ConfigError (one line, naming the option) while one is invalid."""
        if self.error:
            raise ConfigError(self.error)
        return check_sampling_options(self.fields, {n: e.raw_value() for n, e in self.editors.items()})
