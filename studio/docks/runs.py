"""Runs panel: the workspace's past runs (family, data, steps, last losses, thumbnail); open one to
see its curves, samples and settings again, continue training it from its last checkpoint,
export its model as one file, or select several and compare them side by side."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QLabel, QPushButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout)

from engines.workspace import RunSummary, read_history, runs_folder, scan_runs, summarize_run

from ..dialogs import ask_overwrite
from ..flow import FlowLayout
from ..images import file_thumbnail
from ..background import Worker
from .base import LEFT, Panel

PATH_ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("Run", "Family", "Status", "Steps", "Last losses", "Data")
THUMB = 48
EXPORT_TOPIC = "export:model"   # banner topic: each export's outcome replaces the previous one's


def _losses_text(summary: RunSummary) -> str:
    return "  ".join(f"{k} {v:.3g}" for k, v in list(summary.last_losses.items())[:3])


def write_model_file(run_dir: Path, target: Path) -> int:
    """Load a run's newest checkpoint and write it as a model file (runs on a background Worker: a large
    U-Net takes seconds to load); returns the checkpoint step written."""
    from engines.train.model_file import save_model
    from engines.train.restore import load_engine

    engine, record = load_engine(run_dir)
    if target.suffix in (".onnx", ".pt2"):  # the image-making network, for other tools
        from engines.network_export import write_network
        write_network(engine, target)
    else:
        save_model(engine, target, record.checkpoint_step, source=str(run_dir))
    return record.checkpoint_step


class RunsPanel(Panel):
    # the export that started ended: the file written, or None (refused, failed); tests wait on it
    export_done = Signal(object)
    # a run's history (curves, samples, settings) read off the GUI thread for Open or Continue, or None
    # when it could not be read; tests wait on it
    history_read = Signal(object)

    panel_id = "runs"
    title = "Runs"
    area = LEFT
    tab_with = "model"

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.summaries: list[RunSummary] = []
        self.export_thread: Worker | None = None
        self.history_thread: Worker | None = None    # reading a run's metrics.jsonl and samples for Open/Continue
        self.export_targets: dict[Path, Path] = {}   # run -> the file its model last went to (or was meant to)
        self.tree = QTreeWidget()
        self.tree.setObjectName("runs_list")
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setIconSize(QSize(THUMB, THUMB))
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.refresh_button = QPushButton("Refresh")
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Show this run's curves, latest samples and settings")
        self.export_button = QPushButton("Export model…")
        self.export_button.setToolTip("Write this run's trained model as one .safetensors file (weights and "
                                      "settings; `genstudio sample FILE` and friends take it like a run folder), or its "
                                      "image-making network as ONNX (.onnx) or torch.export (.pt2) for other tools")
        self.confirm_overwrite: Callable[[Path], bool] = lambda path: ask_overwrite(self, path)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Show the selected runs side by side (select several with Ctrl or Shift)")
        self.continue_button = QPushButton("Continue training")
        self.continue_button.setToolTip("Train this run further from its last checkpoint "
                                        "(raise Steps first if it has finished)")
        self.note = QLabel()
        self.note.setStyleSheet("color: #52606d;")
        self.note.setWordWrap(True)

        buttons = FlowLayout()  # wraps in a narrow dock
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.continue_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.note)
        layout.addLayout(buttons)

        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(lambda: self.open_selected())
        self.continue_button.clicked.connect(lambda: self.continue_selected())
        self.compare_button.clicked.connect(lambda: self.compare_selected())
        self.export_button.clicked.connect(self._choose_export)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(lambda *_: self.open_selected())
        # a run starting or ending changes its own folder only: its row, not a rescan of every run's
        # folder and thumbnail on the GUI thread (tenths of a second for a workspace of tens of runs)
        state.run_started.connect(lambda *_: self.refresh_run(self.state.run_dir))   # the new run appears
        state.run_ended.connect(lambda: self.refresh_run(self.state.run_dir))        # and its final status
        state.training_state_changed.connect(self._update_buttons)
        state.progress.connect(self._on_progress)  # the running run's live step (run.json lags to checkpoints)
        self.refresh()

    # --- listing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rescan the workspace (never fails: broken run folders are counted, not shown)."""
        keep = set(self.selected_paths())
        folder = runs_folder()
        self.summaries, skipped = scan_runs(folder)
        self.tree.clear()
        for summary in self.summaries:
            item = self._item(summary)
            self.tree.addTopLevelItem(item)
            if summary.path in keep:
                item.setSelected(True)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        self._show_count(skipped)
        self._update_buttons()

    def refresh_run(self, path) -> None:
        """Read one run's folder again: its row updated, or added at the top (the newest run). A folder
        outside the workspace is not listed; one that cannot be read leaves the list as it was."""
        folder = runs_folder()
        if path is None or Path(path).resolve().parent != folder.resolve():
            return
        path = folder / Path(path).name   # as the scan names it
        try:
            summary = summarize_run(path)
        except Exception:  # noqa: BLE001 - not (yet) a readable run: Refresh says why, as for any folder
            return
        index = next((i for i, s in enumerate(self.summaries) if s.path == summary.path), None)
        item = self._item(summary)
        if index is None:
            self.summaries.insert(0, summary)
            self.tree.insertTopLevelItem(0, item)
        else:
            selected = self.tree.topLevelItem(index).isSelected()
            self.summaries[index] = summary
            self.tree.takeTopLevelItem(index)
            self.tree.insertTopLevelItem(index, item)
            item.setSelected(selected)
        self._show_count(getattr(self, "_skipped", []))
        self._update_buttons()

    def _show_count(self, skipped) -> None:
        folder = runs_folder()
        self._skipped = skipped
        text = f"{len(self.summaries)} run{'s' if len(self.summaries) != 1 else ''} in {folder}"
        if skipped:
            text += f" · {len(skipped)} folder{'s' if len(skipped) != 1 else ''} skipped"
        self.note.setText(text)
        self.note.setToolTip("\n".join(f"{s.path.name}: {s.reason}" for s in skipped))

    def _item(self, s: RunSummary) -> QTreeWidgetItem:
        steps = f"{s.step:,} / {s.total_steps:,}" if s.total_steps else f"{s.step:,}"
        item = QTreeWidgetItem([s.name, s.family, s.status, steps, _losses_text(s), s.dataset])
        item.setData(0, PATH_ROLE, str(s.path))
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created)) if s.created else "unknown time"
        item.setToolTip(0, f"{s.path}\ncreated {when} on {s.device or '?'} · {s.checkpoints} checkpoint(s)")
        if s.thumbnail is not None:
            pixmap = file_thumbnail(s.thumbnail, THUMB)   # the one safe opener: a shared run's files are input
            if not pixmap.isNull():
                item.setIcon(0, QIcon(pixmap))
        return item

    def _on_progress(self, event) -> None:
        """The run being trained shows its live step and losses, not what its last checkpoint wrote."""
        current = self.state.run_dir
        if current is None:
            return
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if Path(item.data(0, PATH_ROLE)) == Path(current):
                item.setText(COLUMNS.index("Status"), "running")
                item.setText(COLUMNS.index("Steps"), f"{event.step:,} / {event.total_steps:,}")
                item.setText(COLUMNS.index("Last losses"),
                             "  ".join(f"{k} {v:.3g}" for k, v in list(event.losses.items())[:3]))
                return

    def selected_paths(self) -> list[Path]:
        return [Path(item.data(0, PATH_ROLE)) for item in self.tree.selectedItems()]

    def selected_path(self) -> Path | None:
        """The one selected run (None when none or several are selected)."""
        chosen = self.selected_paths()
        return chosen[0] if len(chosen) == 1 else None

    def select(self, path: str | Path) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if Path(item.data(0, PATH_ROLE)) == Path(path):
                self.tree.setCurrentItem(item)
                item.setSelected(True)
                return True
        return False

    def _update_buttons(self, *_args) -> None:
        chosen = self.selected_path() is not None
        idle = not self.state.session.active and self.history_thread is None
        self.open_button.setEnabled(chosen and idle)
        self.continue_button.setEnabled(chosen and idle)
        self.compare_button.setEnabled(bool(self.selected_paths()))
        summary = next((s for s in self.summaries if s.path == self.selected_path()), None)
        self.export_button.setEnabled(summary is not None and summary.checkpoints > 0 and self.export_thread is None)

    # --- commands ----------------------------------------------------------------------------------
    def _read_history(self, then: Callable) -> bool:
        """Read the selected run's history (tens of thousands of metrics rows, the newest sample grid) on a
        background Worker, then call `then(history)` on the GUI thread. False when nothing was started."""
        path = self.selected_path()
        if path is None or self.history_thread is not None:
            return False
        thread = Worker(read_history, path, expected=(ValueError,))
        thread.returned.connect(lambda history: self._history_ended(history, then))
        thread.errored.connect(lambda reason, details: self._history_failed(path, reason, details))
        self.history_thread = thread
        self._update_buttons()
        thread.start()
        return True

    def _join_history_thread(self) -> None:
        if self.history_thread is not None:
            self.history_thread.wait()
            self.history_thread = None
        self._update_buttons()

    def _history_ended(self, history, then: Callable) -> None:
        self._join_history_thread()
        then(history)
        self.history_read.emit(history)

    def _history_failed(self, path: Path, reason: str, details: str) -> None:
        self._join_history_thread()
        self.state.message.emit("error", f"Cannot open the run {path.name}: {reason}", details)
        self.refresh()
        self.history_read.emit(None)

    def open_selected(self) -> bool:
        """Open the selected run (its curves, samples and settings); its history is read in the background
        and `history_read` says when it is shown. False when nothing was started."""
        if self.state.session.active:
            return False
        return self._read_history(self._open)

    def _open(self, history) -> None:
        if self.state.session.active:  # a run started while the history was read: it keeps the panels
            self.state.message.emit("info", f"A run is in progress; open {history.path.name} after it ends.", "")
            return
        try:
            self.state.open_run(history)
        except Exception as exc:  # noqa: BLE001 - an unknown family or odd settings: a message, not a crash
            self.state.message.emit("error", f"Cannot open the run {history.path.name}: {exc}", "")

    def suggested_export(self, run: Path) -> Path:
        """Where the export dialog starts: the file (name and folder) chosen for this run last time,
        else the run's name in the folder of the last export, else in the home folder."""
        if Path(run) in self.export_targets:
            return self.export_targets[Path(run)]
        last = next(reversed(self.export_targets.values()), None)
        return (last.parent if last is not None else Path.home()) / f"{Path(run).name}.safetensors"

    def _choose_export(self) -> None:
        path = self.selected_path()
        if path is None:
            return
        target, _ = QFileDialog.getSaveFileName(self, "Export model", str(self.suggested_export(path)),
                                                "Model for genstudio (*.safetensors);;"
                                                "Image-making network as ONNX (*.onnx);;"
                                                "Image-making network for torch.export (*.pt2)",
                                                options=QFileDialog.Option.DontConfirmOverwrite)
        if target:
            self.export_model(path, target)

    def export_model(self, run: Path, target: str | Path) -> Path | None:
        """Start writing the run's newest checkpoint as a model file in the background; returns the
        file it will write, or None when nothing was started. A message says how it ended, and
        `export_done` carries the file (or None)."""
        target = Path(target)
        if target.suffix not in (".safetensors", ".onnx", ".pt2"):
            target = target.with_name(target.name + ".safetensors")
        self.export_targets.pop(Path(run), None)
        self.export_targets[Path(run)] = target   # offered again next time, even when this one fails
        refusal = None
        if self.export_thread is not None:
            refusal = ("info", "An export is already running; wait for it to finish.")
        elif target.exists() and not self.confirm_overwrite(target):
            refusal = ("info", "Export cancelled; nothing was overwritten.")
        elif not target.parent.is_dir():  # else the message would name the hidden temporary file
            refusal = ("error", f"Cannot export the model of {run.name}: the folder {target.parent} does not exist")
        if refusal is not None:
            self.state.notice.emit(*refusal, "", EXPORT_TOPIC)
            self.export_done.emit(None)
            return None
        thread = Worker(write_model_file, Path(run), target)
        thread.returned.connect(lambda step: self._export_ended(
            target, "info", f"Exported the model of {run.name} (step {step}) to {target}."))
        thread.errored.connect(lambda reason, details: self._export_ended(
            None, "error", f"Cannot export the model of {run.name}: {reason}", details))
        self.export_thread = thread
        self._update_buttons()
        self.state.notice.emit("busy", f"Exporting the model of {run.name}…", "", EXPORT_TOPIC)
        thread.start()
        return target

    def _export_ended(self, target: Path | None, level: str, text: str, details: str = "") -> None:
        if self.export_thread is not None:
            self.export_thread.wait()
            self.export_thread = None
        self._update_buttons()
        self.state.notice.emit(level, text, details, EXPORT_TOPIC)  # replaces "Exporting…"
        self.export_done.emit(target)

    def shutdown(self) -> None:
        if self.history_thread is not None:
            self.history_thread.wait()
        if self.export_thread is not None:  # let the file be finished: a half-written one is never left, but
            self.export_thread.wait()       # the person asked for it
        super().shutdown()

    def compare_selected(self) -> bool:
        paths = self.selected_paths()
        if paths:
            self.state.compare_requested.emit(paths)
        return bool(paths)

    def continue_selected(self) -> bool:
        """Train the selected run further (its history read in the background first, as for Open);
        False when nothing was started."""
        return self._read_history(self._continue)

    def _continue(self, history) -> None:
        try:
            self.state.continue_run(history)
        except Exception as exc:  # noqa: BLE001
            self.state.message.emit("error", f"Cannot continue the run {history.path.name}: {exc}", "")
