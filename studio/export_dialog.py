"""One export dialog for every panel that exports frames (Latent, Timeline, Sampler): where to write,
how much to enlarge and how, GIF/MP4 frame rate, how often a GIF plays, and captions where the panel
has them. It fills in engines.export.ExportOptions, the same bundle the CLI's export flags fill in."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from engines.export import MAX_SCALE, ExportOptions

ANIMATED = (".gif", ".mp4")
_last_folder = Path.home()   # where the previous export went, shared by all panels
# The file each kind of export (dialog title, suggested name) last went to: a name the person typed is
# offered again next time instead of the suggestion.
_last_paths: dict[tuple[str, str], Path] = {}


class ExportDialog(QDialog):
    def __init__(self, parent: QWidget | None, title: str, default_path: str | Path, filters: str,
                 options: ExportOptions, captions: str | None = None, frame_size: tuple[int, int] | None = None):
        """`captions`: what the labels option writes (e.g. "class names under each tile"); None: no labels
        here. `frame_size`: (height, width) of one frame, to show the size after enlarging."""
        super().__init__(parent)
        self.setWindowTitle(title)
        self.filters = filters
        self.frame_size = frame_size
        self.has_captions = captions is not None

        self.path_edit = QLineEdit(str(default_path))
        self.path_edit.textChanged.connect(self._update)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)

        self.scale = QSpinBox()
        self.scale.setRange(1, MAX_SCALE)
        self.scale.setValue(options.scale)
        self.scale.setSuffix(" ×")
        self.scale.setToolTip("Enlarge every frame by this whole factor")
        self.scale.valueChanged.connect(self._update)
        self.resample = QComboBox()
        for name, tip in (("nearest", "crisp pixels"), ("bilinear", "smoothed")):
            self.resample.addItem(f"{name} ({tip})", name)
        self.resample.setCurrentIndex(max(0, self.resample.findData(options.resample)))
        self.size_note = QLabel("")
        self.size_note.setStyleSheet("color: #888;")
        scale_row = QHBoxLayout()
        scale_row.addWidget(self.scale)
        scale_row.addWidget(self.resample, 1)
        scale_row.addWidget(self.size_note)

        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 120)
        self.fps.setDecimals(1)
        self.fps.setValue(options.fps)
        self.fps.setSuffix(" fps")
        self.loop = QSpinBox()
        self.loop.setRange(0, 1000)
        self.loop.setSpecialValueText("forever")  # shown for 0
        self.loop.setSuffix(" ×")
        self.loop.setValue(options.loop)
        self.loop.setToolTip("How many times the GIF plays: forever, once (1), or a number of times")
        self.labels = QCheckBox(captions or "captions")
        self.labels.setChecked(options.labels and captions is not None)

        form = QFormLayout()
        form.addRow("File", path_row)
        form.addRow("Enlarge", scale_row)
        form.addRow("Frame rate", self.fps)
        form.addRow("GIF plays", self.loop)
        form.addRow("Labels", self.labels)
        form.setRowVisible(self.labels, captions is not None)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self._update()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, self.windowTitle(), self.path_edit.text(), self.filters,
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.path_edit.setText(path)

    def _update(self) -> None:
        suffix = Path(self.path_edit.text().strip()).suffix.lower()
        self.fps.setEnabled(suffix in ANIMATED)
        self.loop.setEnabled(suffix == ".gif")
        if self.frame_size is not None:
            h, w = self.frame_size
            self.size_note.setText(f"{w * self.scale.value()} × {h * self.scale.value()} px")
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(bool(self.path_edit.text().strip()))

    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def options(self) -> ExportOptions:
        return ExportOptions(scale=self.scale.value(), resample=self.resample.currentData(), fps=self.fps.value(),
                             loop=self.loop.value(), labels=self.has_captions and self.labels.isChecked())


def ask_export(parent: QWidget, title: str, default_path: str | Path, filters: str, options: ExportOptions,
               captions: str | None = None, frame_size: tuple[int, int] | None = None
               ) -> tuple[Path, ExportOptions] | None:
    """Show the export dialog; (path, options) when the person saves, None when they cancel.
    A bare file name starts in the folder of the previous export (at first the home folder), or is
    the file this kind of export went to last time."""
    global _last_folder
    default_path = Path(default_path)
    key = (title, default_path.name)
    if not default_path.is_absolute():
        default_path = _last_paths.get(key) or _last_folder / default_path
    dialog = ExportDialog(parent, title, default_path, filters, options, captions, frame_size)
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        _last_folder = dialog.path().parent
        _last_paths[key] = dialog.path()
        return dialog.path(), dialog.options()
    finally:
        dialog.deleteLater()


def with_changes(options: ExportOptions, **changes) -> ExportOptions:
    """`options` with the given fields replaced (None leaves a field as it is)."""
    return replace(options, **{k: v for k, v in changes.items() if v is not None})


__all__ = ["ExportDialog", "ask_export", "with_changes"]
