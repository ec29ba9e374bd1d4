"""Training panel: start / pause / stop / save now, progress with step, images/s, ETA, elapsed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QSpinBox,
                               QToolButton, QVBoxLayout)

from engines.config import replace_checked
from engines.runtime.thread_tuner import chosen_count
from engines.runtime.threads import auto_threads
from engines.train import events as ev

from ..forms import RangeSpinBox

from .base import BOTTOM, Panel


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TrainingPanel(Panel):
    panel_id = "training"
    title = "Training"
    area = BOTTOM

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        actions = state.actions
        self.buttons = {}
        row = QHBoxLayout()
        for name in ("start", "pause", "stop", "save"):
            button = QToolButton()
            button.setDefaultAction(getattr(actions, name))
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setMinimumWidth(84)
            self.buttons[name] = button
            row.addWidget(button)
        row.addSpacing(12)
        self.bar = QProgressBar()
        self.bar.setObjectName("training_progress")
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("idle")
        self.bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        row.addWidget(self.bar, 1)

        self.step_label = QLabel("–")
        self.speed_label = QLabel("–")
        self.eta_label = QLabel("–")
        self.elapsed_label = QLabel("–")
        self.status_label = QLabel("Idle")
        self.run_label = QLabel("–")
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_label.setWordWrap(True)
        # CPU threads: the training setting (0: automatic), here where the speed is read
        self.threads_box = RangeSpinBox(minimum=0, maximum=1024, name="CPU threads")
        self.threads_box.setObjectName("training_threads")
        self.threads_box.setSpecialValueText(f"auto ({auto_threads()})")
        self.threads_box.setToolTip("Threads PyTorch trains with on the CPU; auto: OMP_NUM_THREADS when set, "
                                    "else it measures 1 up to one per physical core while training and keeps "
                                    "the fastest, looking again as other work comes and goes. Takes effect "
                                    "when training starts.")
        self.threads_box.setValue(state.settings.threads)
        self.threads_box.valueChanged.connect(self._set_threads)
        # three short columns rather than two long ones: the dock stays low on a laptop screen
        left, middle, right = QFormLayout(), QFormLayout(), QFormLayout()
        left.addRow("Step", self.step_label)
        left.addRow("Images/s", self.speed_label)
        left.addRow("Status", self.status_label)
        middle.addRow("Elapsed", self.elapsed_label)
        middle.addRow("ETA", self.eta_label)
        right.addRow("CPU threads", self.threads_box)
        # several training processes (torch.distributed), offered where there is more than one GPU or core
        from ..process_session import processes_available
        self.processes = QSpinBox()
        self.processes.setObjectName("training_processes")
        self.processes.setRange(1, max(1, processes_available()))
        self.processes.setValue(state.processes)
        self.processes.setToolTip("Train on this many processes (PyTorch's torch.distributed: one GPU each, or the "
                                  "CPU cores split between them). The batch size stays the global batch and must "
                                  "split evenly. More than 1 runs training as a separate program.")
        self.processes.valueChanged.connect(state.set_processes)
        self.batch_label = QLabel("–")
        if processes_available() > 1:
            right.addRow("Processes", self.processes)
        else:
            self.processes.hide()
        middle.addRow("Batch", self.batch_label)
        right.addRow("Run folder", self.run_label)
        # families that grow (progan) report their current resolution and fade-in alpha as metrics
        self.growth_label = QLabel("–")
        self.growth_label.setObjectName("training_growth")
        self.growth_label.setToolTip("Progressive growing: the resolution the networks train at now, and "
                                     "how far the newest layers have faded in (alpha 0 -> 1)")
        middle.addRow("Resolution", self.growth_label)
        self._right = middle  # the column holding the growth row (shown only while a network grows)
        middle.setRowVisible(self.growth_label, False)
        details = QHBoxLayout()
        details.addLayout(left, 2)
        details.addLayout(middle, 2)
        details.addLayout(right, 3)

        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(details)
        layout.addStretch(1)

        state.run_started.connect(self._on_started)
        state.progress.connect(self._on_progress)
        state.phase.connect(self._on_phase)
        state.samples.connect(self._on_samples)
        state.training_state_changed.connect(self._on_state)
        state.finished.connect(self._on_finished)
        state.failed.connect(self._on_failed)
        state.checkpoint.connect(self._on_checkpoint)
        state.metrics.connect(self._on_metrics)
        state.run_opened.connect(self._on_opened)
        state.note.connect(self._on_note)
        state.settings_replaced.connect(self._show_threads)
        state.config_changed.connect(self._show_threads)

    def _set_threads(self, value: int) -> None:
        settings = self.state.settings
        if settings.threads != value:
            self.state.set_settings(replace_checked(settings, threads=value))
            self.state.settings_replaced.emit()   # the Model panel's form follows

    def _show_threads(self) -> None:
        value = self.state.settings.threads
        if self.threads_box.value() != value:
            self.threads_box.blockSignals(True)
            self.threads_box.setValue(value)
            self.threads_box.blockSignals(False)

    def _on_metrics(self, event: ev.Metrics) -> None:
        values = event.values
        if "resolution" not in values:
            return
        px, alpha = int(values["resolution"]), float(values.get("fade_alpha", 1.0))
        self.growth_label.setText(f"{px}×{px} px, fading in (alpha {alpha:.2f})" if alpha < 1
                                  else f"{px}×{px} px")
        self._right.setRowVisible(self.growth_label, True)

    def _on_started(self, event: ev.Started) -> None:
        self._right.setRowVisible(self.growth_label, False)
        self.bar.setRange(0, max(event.total_steps, 1))
        self.bar.setValue(event.start_step)
        self.bar.setFormat("%v / %m steps (%p%)")
        self._total_steps = event.total_steps
        # with a time budget the ETA follows whichever limit comes first; say which ones there are
        self._budget = (f", or {format_duration(event.time_limit_s)} of training time"
                        if event.time_limit_s else "")
        self._time_limit, self._seconds_before = float(event.time_limit_s), float(event.train_seconds)
        self.step_label.setText(f"{event.start_step} / {event.total_steps}{self._budget}")
        self.run_label.setText(event.run_dir or "(not saved)")
        self.status_label.setText(f"Running on {event.device}, {event.parameters:,} parameters")
        if event.threads:
            self.threads_box.setSpecialValueText(f"auto ({event.threads})")
        if event.world_size > 1:
            self.batch_label.setText(f"{event.global_batch} per step: {event.world_size} processes × "
                                     f"{event.per_process_batch}")
        else:
            self.batch_label.setText(f"{event.global_batch or self.state.settings.batch_size} per step, one process")

    def _on_note(self, event) -> None:
        """Automatic threads measured: the box shows the count it chose, its tooltip why."""
        count = chosen_count(event.message) if event.kind == "threads" else None
        if count is not None:
            self.threads_box.setSpecialValueText(f"auto ({count})")
            self.threads_box.setToolTip(f"Automatic: {event.message}")

    def _on_opened(self, history) -> None:
        total = int(history.settings.get("steps", 0) or 0)
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(history.step, max(total, 1)))
        self.bar.setFormat("%v / %m steps (%p%)")
        self.step_label.setText(f"{history.step} / {total}")
        # nothing of the previous run's figures stays: this run's own, or "–" where the run does not say
        for label in (self.speed_label, self.eta_label, self.elapsed_label):
            label.setText("–")
        batch = history.settings.get("batch_size")
        self.batch_label.setText(f"{batch} per step" if batch else "–")
        self._budget = ""
        self.run_label.setText(str(history.path))
        self.status_label.setText(f"Opened a {history.status} run")

    def _on_progress(self, event: ev.Progress) -> None:
        limit = getattr(self, "_time_limit", 0.0)
        if limit:  # the bar follows whichever limit is nearer to ending the run
            spent = getattr(self, "_seconds_before", 0.0) + event.elapsed_s
            done = max(event.step / max(event.total_steps, 1), spent / limit)
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(round(1000 * min(1.0, done))))
            self.bar.setFormat(f"{event.step} steps, {format_duration(spent)} of {format_duration(limit)} "
                               f"({int(100 * min(1.0, done))}%)")
        else:
            self.bar.setMaximum(max(event.total_steps, 1))
            self.bar.setValue(event.step)
        self.step_label.setText(f"{event.step} / {event.total_steps}{getattr(self, '_budget', '')}")
        self.speed_label.setText(f"{event.images_per_sec:,.0f}")
        self.eta_label.setText(format_duration(event.eta_s))
        self.elapsed_label.setText(format_duration(event.elapsed_s))

    def _on_phase(self, event: ev.Phase) -> None:
        text = event.message[:1].upper() + event.message[1:]
        if event.expected_s is not None and event.expected_s >= 1:
            text += f" (about {format_duration(event.expected_s)})"
        self.status_label.setText(text + "…")

    def _on_samples(self, _event) -> None:
        if self.state.training_state == "running":  # the phase is over; paused/stopping say so themselves
            self._on_state("running")

    def _on_state(self, state: str) -> None:
        text = {"starting": "Starting…", "paused": "Paused", "stopping": "Stopping: saving a checkpoint…",
                "running": None, "idle": None}.get(state)
        if text:
            self.status_label.setText(text)
        elif state == "running" and self.state.last_started is not None:
            s = self.state.last_started
            self.status_label.setText(f"Running on {s.device}, {s.parameters:,} parameters")

    def _on_checkpoint(self, event: ev.CheckpointSaved) -> None:
        self.status_label.setText(f"Checkpoint saved at step {event.step}")

    def _on_finished(self, event: ev.Finished) -> None:
        if event.reason == "time budget":
            # the run is complete at the step its time ran out: a full bar, not "6%" of a step count it
            # was never meant to reach
            self.bar.setRange(0, max(event.step, 1))
            self.bar.setValue(event.step)
            limit = getattr(self, "_time_limit", 0.0)
            # the bar's text was the last progress report's ("1100 steps, 5:00 of 5:00 (99%)"): the end's
            self.bar.setFormat(f"{event.step} steps, {format_duration(limit)} of {format_duration(limit)} (100%)"
                               if limit else f"{event.step} steps (100%)")
            self.step_label.setText(f"{event.step} steps (time budget reached)")
        else:
            total = getattr(self, "_total_steps", 0) or self.bar.maximum()
            if event.reason == "completed":   # whatever the bar counted (steps or time), the run is done
                self.bar.setValue(self.bar.maximum())
            elif not getattr(self, "_time_limit", 0.0):
                # progress is reported every log_every steps: a stop between two reports would leave the bar behind
                self.bar.setValue(min(event.step, self.bar.maximum()))
            self.step_label.setText(f"{event.step} / {total}")
        self.status_label.setText(f"Finished ({event.reason}) at step {event.step}")
        self.eta_label.setText("–")

    def _on_failed(self, event: ev.Failed) -> None:
        self.status_label.setText(f"Failed at step {event.step}")
