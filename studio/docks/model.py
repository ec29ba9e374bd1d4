"""Model panel: family picker, the family's settings form, and the training settings form."""

from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QVBoxLayout, QWidget)

from engines import registry
from engines.config import ConfigError, replace_checked
from engines.train.loop import TrainSettings

from ..forms import ConfigForm
from ..state import FIRST_RUN_SECONDS
from .base import LEFT, Panel

# Training settings a person changes often; the rest sit under "Advanced".
BASIC_TRAIN_SETTINGS = ("steps", "batch_size", "sample_every", "n_samples", "seed", "device")


class ModelPanel(Panel):
    panel_id = "model"
    title = "Model"
    area = LEFT

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.family_box = QComboBox()
        self.family_box.setObjectName("family")
        for family in registry.all_families():
            self.family_box.addItem(family.title, family.name)
            self.family_box.setItemData(self.family_box.count() - 1, family.description,
                                        role=3)  # Qt.ToolTipRole
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #52606d;")
        self.reset_button = QPushButton("Defaults")
        self.reset_button.setToolTip("Put every model and training setting back to its default")

        self.family_group = QGroupBox("Model settings")
        self.family_layout = QVBoxLayout(self.family_group)
        self.family_form: ConfigForm | None = None

        self.settings_group = QGroupBox("Training settings")
        self.settings_form = ConfigForm(TrainSettings, basic=BASIC_TRAIN_SETTINGS)
        self.settings_form.set_config(state.settings)  # the studio's first-run plan, not the class defaults
        # "Train for: steps | minutes": minutes fill in the time_limit setting; steps stay a cap
        self.train_for = QComboBox()
        self.train_for.setObjectName("train_for")
        self.train_for.addItems(["steps", "minutes"])
        self.train_for.setToolTip("Steps: train to the step count. Minutes: stop (with a checkpoint) after this much "
                                  "training time, or at the step count if that comes first; paused time does not count")
        self.minutes_box = QDoubleSpinBox(minimum=0.1, maximum=1_000_000.0, value=10.0, decimals=1)
        self.minutes_box.setObjectName("train_minutes")
        self.minutes_box.setSuffix(" min")
        self.minutes_box.setVisible(False)
        train_for = QHBoxLayout()
        train_for.addWidget(self.train_for)
        train_for.addWidget(self.minutes_box, 1)
        budget = QFormLayout()
        budget.addRow("Train for", train_for)
        settings_layout = QVBoxLayout(self.settings_group)
        settings_layout.addLayout(budget)
        settings_layout.addWidget(self.settings_form)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(QLabel("Family"))
        layout.addWidget(self.family_box)
        layout.addWidget(self.description)
        layout.addWidget(self.family_group)
        layout.addWidget(self.settings_group)
        layout.addWidget(self.reset_button)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.settings_form.changed.connect(self._push)
        self.settings_form.changed.connect(self._show_train_for)
        self.train_for.currentIndexChanged.connect(self._set_time_limit)
        self.minutes_box.valueChanged.connect(self._set_time_limit)
        self.family_box.currentIndexChanged.connect(self._family_picked)
        self.reset_button.clicked.connect(self.reset)
        state.family_changed.connect(self._show_family)
        state.settings_replaced.connect(self._show_settings)
        state.settings_loaded.connect(self._show_loaded_settings)
        state.training_state_changed.connect(self._on_training_state)
        state.dataset_changed.connect(self._follow_data_size)
        self._preset_shown = None      # the recipe the family form was last filled with
        self._train_recipe: dict = {}  # training settings the family's recipe put in the form
        self._edited: dict = {}        # family -> its settings as the person left them (switching away)
        self._form_family = state.family_name
        self._show_family(state.family_name)
        self.settings_form.set_config(state.settings)
        self._apply_train_recipe()
        self._show_train_for()
        self._push()

    def _show_settings(self) -> None:
        """Settings changed elsewhere (e.g. flip in the Dataset panel): show them here too."""
        self.settings_form.set_config(self.state.settings)

    def _set_time_limit(self, *_args) -> None:
        """The Train-for row writes the time_limit setting (seconds; 0 = steps alone)."""
        minutes = self.train_for.currentText() == "minutes"
        self.minutes_box.setVisible(minutes)
        try:
            current = self.settings_form.config()
        except ConfigError:
            return  # an invalid form: the person fixes that first
        seconds = round(self.minutes_box.value() * 60.0, 3) if minutes else 0.0
        if current.time_limit != seconds:
            self.settings_form.set_config(replace_checked(current, time_limit=seconds))

    def _show_train_for(self) -> None:
        """Settings shown from elsewhere (a reopened run, Defaults, the Advanced field): follow them."""
        try:
            seconds = self.settings_form.config().time_limit
        except ConfigError:
            return
        for widget in (self.train_for, self.minutes_box):
            widget.blockSignals(True)
        self.train_for.setCurrentIndex(1 if seconds > 0 else 0)
        if seconds > 0:
            self.minutes_box.setValue(seconds / 60.0)
        self.minutes_box.setVisible(seconds > 0)
        for widget in (self.train_for, self.minutes_box):
            widget.blockSignals(False)

    def _family_picked(self, _index: int) -> None:
        self.state.set_family(self.family_box.currentData())

    def _show_family(self, name: str) -> None:
        family = registry.get(name)
        index = self.family_box.findData(name)
        if index != self.family_box.currentIndex():
            self.family_box.setCurrentIndex(index)
        self.description.setText(family.description)
        if self.family_form is not None:
            self._keep_edits()
            self.family_form.setParent(None)
            self.family_form.deleteLater()
        self.family_form = ConfigForm(family.config_class)
        self.family_form.setObjectName("family_form")
        self._form_family = name
        self._fill_preset()
        if name in self._edited:  # coming back to a family: the settings as the person left them
            self.family_form.set_config(self._edited[name])
        self.family_form.changed.connect(self._push)
        self.family_layout.addWidget(self.family_form)
        self._push()

    def _keep_edits(self) -> None:
        """Remember the leaving family's settings if the person changed them from the recipe."""
        try:
            config = self.family_form.config()
        except ConfigError:
            return  # half-typed: not worth keeping
        if config != self._preset_shown:
            self._edited[self._form_family] = config
        else:
            self._edited.pop(self._form_family, None)

    def _data_size(self) -> int:
        data = self.state.dataset
        return data.size if data is not None else self.state.image_size

    def _fill_preset(self) -> None:
        """Fill the family form with the family's recipe for the current image size."""
        self._preset_shown = registry.default_config(self.state.family_name, self._data_size())
        self.family_form.set_config(self._preset_shown)
        self._apply_train_recipe()

    def _apply_train_recipe(self) -> None:
        """The family's recommended training settings (e.g. batch 16 for flows), as the CLI applies
        them. A setting the person changed is theirs and stays; one the previous family's recipe set
        and nobody touched goes back to its default when the new family has no opinion on it."""
        try:
            current = self.settings_form.config()
        except ConfigError:
            return  # an invalid form: leave it as the person has it
        merged, self._train_recipe = registry.merge_train_recipe(self.state.family_name, self._data_size(), current,
                                                                 self._train_recipe)
        if merged != current:
            self.settings_form.set_config(merged)

    def _follow_data_size(self, dataset) -> None:
        """New data of another size: an untouched recipe follows it; edited settings are kept."""
        if dataset is None or self.family_form is None or self.state.training_state != "idle":
            return
        if self.state.config == self._preset_shown:
            self._fill_preset()
            self._push()

    def _show_loaded_settings(self) -> None:
        """A reopened run's settings replace what the forms show."""
        config, settings = self.state.config, self.state.settings
        self._train_recipe = {}  # the run's own settings, not a recipe
        if self.family_form is not None:
            self.family_form.set_config(config)
        self.settings_form.set_config(settings)

    def reset(self) -> None:
        self.settings_form.reset()
        self.settings_form.set_config(replace_checked(self.settings_form.config(), time_limit=FIRST_RUN_SECONDS))
        self._train_recipe = {}
        self._edited.pop(self.state.family_name, None)
        if self.family_form is not None:
            self._fill_preset()
        self._push()

    def _push(self) -> None:
        """Send valid settings to the state; report the first problem otherwise (Start is disabled)."""
        errors = []
        if self.family_form is not None:
            try:
                self.state.config = self.family_form.config()
            except ConfigError as exc:
                errors.append(str(exc))
        try:
            self.state.settings = self.settings_form.config()
        except ConfigError as exc:
            errors.append(str(exc))
        self.state.set_config_error(errors[0] if errors else None)

    def _on_training_state(self, state: str) -> None:
        # settings belong to the run once it starts; editing them mid-run would mislead
        editable = state == "idle"
        self.family_box.setEnabled(editable)
        self.family_group.setEnabled(editable)
        self.settings_group.setEnabled(editable)
        self.reset_button.setEnabled(editable)
