"""Dataset panel: drop zone, open/sample buttons, preprocessing settings, background loading,
summary, thumbnail grid, preview after preprocessing, and the table of skipped files.

The thumbnail grid is a QListView over a QAbstractListModel that makes pixmaps on demand (and
caches a bounded number), so tens of thousands of images scroll without freezing.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QPixmap
from PySide6.QtWidgets import (QCheckBox, QColorDialog, QComboBox, QFormLayout, QFrame,
                               QGroupBox, QHBoxLayout, QLabel, QListView, QMenu, QProgressBar, QPushButton,
                               QTabWidget, QVBoxLayout, QWidget)

from engines.data import FIT_MODES, ImageDataset

from .. import dialogs
from ..forms import RangeSpinBox
from ..images import to_qimage
from ..input_targets import InputTargets
from ..widgets.drops import local_paths
from .base import LEFT, Panel
from .dataset_report import PreviewStrip, SkipTable, describe

THUMB = 40           # thumbnail edge in the grid, px
CACHE_LIMIT = 3000   # pixmaps kept; the view asks only for what is visible
CHANNEL_CHOICES = (("auto", None), ("grey", 1), ("RGB", 3))
FIT_CHOICES = tuple(({"center-crop": "centre crop"}.get(mode, mode), mode) for mode in FIT_MODES)


class ThumbnailModel(QAbstractListModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.dataset: ImageDataset | None = None
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()

    def set_dataset(self, dataset: ImageDataset | None) -> None:
        self.beginResetModel()
        self.dataset = dataset
        self._cache.clear()
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() or self.dataset is None else len(self.dataset)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.dataset is None:
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            ds = self.dataset
            where = ds.paths[row] if row < len(ds.paths) else f"image {row}"
            label = f" — {ds.class_names[ds.labels[row]]}" if ds.class_names else ""
            return where + label
        return None

    def _pixmap(self, row: int) -> QPixmap:
        pix = self._cache.get(row)
        if pix is None:
            image = to_qimage(self.dataset.images[row])
            pix = QPixmap.fromImage(image.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.FastTransformation))
            self._cache[row] = pix
            if len(self._cache) > CACHE_LIMIT:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(row)
        return pix


class DropZone(QFrame):
    dropped = Signal(list)

    IDLE_STYLE = "#drop_zone { border: 2px dashed #9aa5b1; border-radius: 6px; background: palette(base); }"
    HOVER_STYLE = "#drop_zone { border: 2px dashed #2a6ebb; border-radius: 6px; background: #e8f1fb; }"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("drop_zone")
        self.setAcceptDrops(True)
        self.setStyleSheet(self.IDLE_STYLE)
        self.setMinimumHeight(56)
        layout = QVBoxLayout(self)
        self.label = QLabel("Drop image folders or files here")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)   # a family's longer prompt (CycleGAN's set A) made the panel scroll sideways
        self.label.setStyleSheet("color: #52606d;")
        layout.addWidget(self.label)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
            self.setStyleSheet(self.HOVER_STYLE)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self.setStyleSheet(self.IDLE_STYLE)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.setStyleSheet(self.IDLE_STYLE)
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.dropped.emit(paths)


class DatasetPanel(Panel):
    panel_id = "dataset"
    title = "Dataset"
    area = LEFT

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        # replaced in tests; returns a folder or "" when the person cancels
        self.ask_folder: Callable[[], str] = lambda: dialogs.open_folder(
            self, "Open image folder", "images")

        self.drop_zone = DropZone()
        self.open_button = QPushButton("Open folder…")
        self.sample_button = QPushButton("Load sample digits")
        self.sample_button.setToolTip("1,797 handwritten digits bundled with genstudio (10 classes, 28 px)")
        self.size_box = RangeSpinBox(minimum=16, maximum=256, value=state.image_size, suffix=" px", name="size")
        self.size_box.setKeyboardTracking(False)  # re-load once the number is committed, not per key
        self.size_box.setToolTip("Images are resized (centre crop) to this square size")
        self.channels_box = QComboBox()
        for text, value in CHANNEL_CHOICES:
            self.channels_box.addItem(text, value)
        self.channels_box.setToolTip("auto: grey when every image is grey, RGB otherwise")
        # replaced in tests; returns a QColor, invalid when the person cancels
        self.ask_colour: Callable[[QColor], QColor] = lambda current: QColorDialog.getColor(
            current, self, "Background behind transparent pixels")
        self.fit_box = QComboBox()
        for text, value in FIT_CHOICES:
            self.fit_box.addItem(text, value)
        self.fit_box.setCurrentIndex(self.fit_box.findData(state.fit))
        self.fit_box.setToolTip("centre crop: fill the square, cut the sides; pad: keep everything, fill the "
                                "rest with the background; stretch: squash to the square")
        self.background_button = QPushButton()
        self.background_button.setToolTip("Colour behind transparent pixels (and the padding)")
        self.flip_box = QCheckBox("Random horizontal flips while training")
        self.flip_box.setChecked(state.settings.flip)
        self._show_background(state.background)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.summary = QLabel("No images yet: drop a folder, open one, or load the sample digits.")
        self.summary.setObjectName("dataset_summary")
        self.summary.setWordWrap(True)
        self.details = QLabel()
        self.details.setObjectName("dataset_details")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.skip_table = SkipTable()
        self.preview = PreviewStrip()
        self.error = QLabel()
        self.error.setObjectName("dataset_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c9302c;")
        self.error.hide()
        self.model = ThumbnailModel(self)
        self.view = QListView()
        self.view.setObjectName("thumbnails")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setUniformItemSizes(True)
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(500)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.setGridSize(QSize(THUMB + 4, THUMB + 4))
        self.view.setSpacing(0)
        self.view.setModel(self.model)
        self.view.setToolTip("Click an image to use it as a Latent end point (after From… → Click an image), "
                             "or right-click: Latent end point A/B/C/D")
        self.view.clicked.connect(lambda index: self.state.image_clicked.emit(self.pick(index.row())))
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._thumbnail_menu)

        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_button)
        prep_group = QGroupBox("Preprocessing")
        prep = QFormLayout(prep_group)
        size_row = QHBoxLayout()
        size_row.addWidget(self.size_box)
        size_row.addWidget(QLabel("Channels"))
        size_row.addWidget(self.channels_box)
        size_row.addStretch(1)
        prep.addRow("Size", size_row)
        fit_row = QHBoxLayout()
        fit_row.addWidget(self.fit_box)
        fit_row.addWidget(QLabel("Background"))
        fit_row.addWidget(self.background_button)
        fit_row.addStretch(1)
        prep.addRow("Fit", fit_row)
        prep.addRow("", self.flip_box)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("dataset_tabs")
        self.tabs.addTab(self.view, "Images")
        about = QWidget()
        about_layout = QVBoxLayout(about)
        about_layout.addWidget(self.details)
        about_layout.addWidget(self.preview, 1)
        self.tabs.addTab(about, "Preview")
        self.tabs.addTab(self.skip_table, "Skipped")
        loading = QHBoxLayout()
        loading.addWidget(self.progress, 1)
        loading.addWidget(self.cancel_button)
        self.loading_row = QWidget()
        self.loading_row.setLayout(loading)
        loading.setContentsMargins(0, 0, 0, 0)
        self.loading_row.hide()

        layout = QVBoxLayout(self)
        layout.addWidget(self.drop_zone)
        layout.addLayout(buttons)
        self.inputs = InputTargets(state)  # the chosen family's other inputs (CycleGAN's set B, ...)
        layout.addWidget(self.inputs)
        state.family_changed.connect(lambda _name: self._name_main_input())
        self._name_main_input()
        layout.addWidget(prep_group)
        layout.addWidget(self.loading_row)
        layout.addWidget(self.summary)
        layout.addWidget(self.error)
        layout.addWidget(self.tabs, 1)

        self.drop_zone.dropped.connect(self.load_paths)
        self.open_button.clicked.connect(self.open_folder)
        self.sample_button.clicked.connect(state.load_sample)
        self.cancel_button.clicked.connect(state.cancel_load)
        self.size_box.valueChanged.connect(self._preprocessing_changed)
        self.size_box.out_of_range.connect(self._on_failed)  # "Size must be between 16 and 256 px; …"
        self.size_box.valueChanged.connect(lambda _v: self.error.hide())
        self.channels_box.currentIndexChanged.connect(self._preprocessing_changed)
        self.fit_box.currentIndexChanged.connect(self._preprocessing_changed)
        self.background_button.clicked.connect(self.choose_background)
        self.flip_box.toggled.connect(state.set_flip)
        state.config_changed.connect(self._show_flip)
        state.training_state_changed.connect(self._on_training_state)
        state.dataset_loading.connect(self._on_loading)
        state.dataset_progress.connect(self._on_progress)
        state.dataset_changed.connect(self._on_dataset)
        state.dataset_failed.connect(self._on_failed)
        state.loading_changed.connect(self._on_busy)

    # --- commands -----------------------------------------------------------------------------
    def _name_main_input(self) -> None:
        """A family with several inputs says which one the big drop zone fills."""
        specs = self.state.family_inputs()
        self.drop_zone.label.setText("Drop image folders or files here" if len(specs) == 1 else
                                     f"Drop {specs[0].name}: {specs[0].help[0].lower()}{specs[0].help[1:]}")

    def load_paths(self, paths: list[str]) -> None:
        self.state.load(paths, size=self.size_box.value(), channels=self.channels_box.currentData(),
                        fit=self.fit_box.currentData())

    def open_folder(self) -> None:
        folder = self.ask_folder()
        if folder:
            self.load_paths([folder])

    def choose_background(self) -> None:
        colour = self.ask_colour(QColor(*self.state.background))
        if colour.isValid():
            rgb = (colour.red(), colour.green(), colour.blue())
            self._show_background(rgb)
            self.state.set_preprocessing(self.size_box.value(), self.channels_box.currentData(),
                                         self.fit_box.currentData(), rgb)

    def _preprocessing_changed(self, *_):
        self.state.set_preprocessing(self.size_box.value(), self.channels_box.currentData(),
                                     self.fit_box.currentData())

    def _show_background(self, rgb: tuple[int, int, int]) -> None:
        self.background_button.setText("#%02x%02x%02x" % tuple(rgb))
        text = "black" if sum(rgb) > 380 else "white"
        self.background_button.setStyleSheet(f"background: rgb{tuple(rgb)}; color: {text};")

    def _on_training_state(self, training_state: str) -> None:
        # flip belongs to the run once it starts (like the Model panel's settings)
        self.flip_box.setEnabled(training_state == "idle")

    def _show_flip(self) -> None:
        if self.flip_box.isChecked() != self.state.settings.flip:
            self.flip_box.blockSignals(True)
            self.flip_box.setChecked(self.state.settings.flip)
            self.flip_box.blockSignals(False)
        self.preview.show_dataset(self.state.dataset, self.state.settings.flip)

    # --- state ------------------------------------------------------------------------------------
    def _on_loading(self, sources: list[str]) -> None:
        self.error.hide()
        self.progress.setRange(0, 0)  # busy until the first count arrives
        names = ", ".join(Path(s).name or s for s in sources[:3]) + ("…" if len(sources) > 3 else "")
        self.progress.setFormat(f"Loading {names}: %p%")

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _on_busy(self, busy: bool) -> None:
        self.loading_row.setVisible(busy)

    def _on_dataset(self, dataset: ImageDataset) -> None:
        self.error.hide()
        self.model.set_dataset(dataset)
        note = dataset.info.get("note")   # how the labels came out (each folder a class, or none): in sight
        self.summary.setText(dataset.summary() + (f"\nNote: {note}" if note else ""))
        self.summary.setToolTip("\n".join(dataset.sources))
        self.details.setText(describe(dataset))
        self.skip_table.set_skipped(dataset.skipped)
        self.tabs.setTabText(self.tabs.indexOf(self.skip_table), f"Skipped ({len(dataset.skipped)})")
        self.preview.show_dataset(dataset, self.state.settings.flip)

    def pick(self, row: int) -> dict:
        """What a Latent end point needs from dataset image `row`: the image, its class name, where from."""
        data = self.state.dataset
        label = data.class_names[int(data.labels[row])] if len(data.class_names) else None
        return {"image": np.asarray(data.images[row]), "label": label, "source": f"dataset image {row}"}

    def _thumbnail_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid() or self.state.dataset is None:
            return
        menu = QMenu(self)
        for name in ("A", "B", "C", "D"):
            menu.addAction(f"Latent end point {name}",
                           lambda name=name: self.state.endpoint_offered.emit(name, self.pick(index.row())))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _on_failed(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
