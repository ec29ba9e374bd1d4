"""The message banner: outcomes replace what they report on, information goes away by itself, and the
export dialog offers the name a person typed last time."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from engines.export import ExportOptions
from studio import export_dialog
from studio.messages import MessageBar


def test_a_success_replaces_the_failure_of_the_same_action(qtbot):
    bar = MessageBar()
    qtbot.addWidget(bar)
    bar.show_message("error", "Export failed: the folder /x does not exist", topic="export:gallery")
    bar.show_message("warning", "Cannot start training: load some images first.", topic="start")
    bar.show_message("busy", "Exporting the model of run-1…", topic="export:model")
    bar.show_message("info", "Exported the model of run-1 (step 6) to /tmp/m.safetensors.", topic="export:model")
    bar.show_message("info", "Saved /tmp/g.png", topic="export:gallery")
    assert bar.texts() == ["Cannot start training: load some images first.",
                           "Exported the model of run-1 (step 6) to /tmp/m.safetensors.", "Saved /tmp/g.png"]


def test_information_expires_and_problems_stay(qtbot):
    bar = MessageBar()
    qtbot.addWidget(bar)
    bar.info_seconds = 0.05
    bar.show_message("warning", "Step 40: the discriminator loss diverged")
    bar.show_message("busy", "Exporting…", topic="export:model")
    info = bar.show_message("info", "Saved a.png")
    with qtbot.waitSignal(info.closed, timeout=2000):
        pass
    assert bar.texts() == ["Step 40: the discriminator loss diverged", "Exporting…"]
    bar.dismiss_topic("export:model")
    bar.messages[0].dismiss()
    assert bar.texts() == []


def test_the_window_takes_a_load_failure_off_when_a_load_works(qtbot, window, blob_folder, tmp_path):
    state = window.state
    with qtbot.waitSignal(state.dataset_failed, timeout=30_000):
        state.load([str(tmp_path / "nothing-here")])
    assert any(t.startswith("Could not load images") for t in window.message_bar.texts())
    with qtbot.waitSignal(state.dataset_changed, timeout=30_000):
        state.load([str(blob_folder)], size=16)
    assert not any(t.startswith("Could not load images") for t in window.message_bar.texts())


def _answer_export_dialog(path: str | None):
    """When the export dialog opens: type `path` (None: keep the suggestion), save; report what it offered."""
    offered = []

    def answer():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, export_dialog.ExportDialog):
            QTimer.singleShot(10, answer)
            return
        offered.append(dialog.path_edit.text())
        if path is not None:
            dialog.path_edit.setText(path)
        dialog.accept()

    QTimer.singleShot(0, answer)
    return offered


def test_the_export_dialog_offers_the_name_typed_last_time(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(export_dialog, "_last_folder", tmp_path)
    monkeypatch.setattr(export_dialog, "_last_paths", {})
    options = ExportOptions()
    offered = _answer_export_dialog(str(tmp_path / "my morph.gif"))
    chosen = export_dialog.ask_export(None, "Export frames", "strip.gif", "GIF (*.gif)", options)
    assert offered == [str(tmp_path / "strip.gif")] and chosen[0] == tmp_path / "my morph.gif"
    offered = _answer_export_dialog(None)
    chosen = export_dialog.ask_export(None, "Export frames", "strip.gif", "GIF (*.gif)", options)
    assert offered == [str(tmp_path / "my morph.gif")] and chosen[0] == Path(tmp_path / "my morph.gif")
    offered = _answer_export_dialog(None)   # another kind of export keeps its own suggestion
    export_dialog.ask_export(None, "Export frames", "grid.gif", "GIF (*.gif)", options)
    assert offered == [str(tmp_path / "grid.gif")]
