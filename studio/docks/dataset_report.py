"""Dataset panel parts that explain a load: summary text, sortable skip table, preprocessing preview."""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QHeaderView, QLabel, QLineEdit, QTableView,
                               QVBoxLayout, QWidget)

from engines.data import ImageDataset, Skipped

from ..images import to_qimage
from engines.words import count

PREVIEW_COUNT = 8      # images shown in the preview
PREVIEW_EDGE = 64      # px on screen per preview image


def describe(dataset: ImageDataset) -> str:
    """Class counts, what the originals were, and where the pixels came from (several lines)."""
    lines = []
    counts = dataset.class_counts()
    if counts:
        lines.append("Classes: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    else:
        lines.append("Unlabelled (put images in one subfolder per class to label them)")
    info = dataset.info
    if info.get("formats"):
        lines.append("Formats: " + ", ".join(f"{k} {v}" for k, v in sorted(info["formats"].items())))
    if info.get("modes"):
        lines.append("Modes: " + ", ".join(f"{k} {v}" for k, v in sorted(info["modes"].items())))
    w, h = info.get("width") or [], info.get("height") or []
    if w and h:
        lines.append(f"Original sizes: {w[0]}–{w[2]} × {h[0]}–{h[2]} px (median {w[1]} × {h[1]})")
    if info.get("cache"):
        lines.append({"hit": "Read from the cache", "updated": "Cache updated (changed files decoded again)",
                      "built": "Decoded and cached", "off": "Decoded (not cached)"}.get(info["cache"], ""))
    if info.get("note"):
        lines.append("Note: " + info["note"])
    return "\n".join(line for line in lines if line)


class SkipTableModel(QAbstractTableModel):
    COLUMNS = ("File", "Folder", "Reason")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[Skipped] = []

    def set_skipped(self, skipped: list[Skipped]) -> None:
        self.beginResetModel()
        self.rows = list(skipped)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        skip = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (os.path.basename(skip.path) or skip.path, os.path.dirname(skip.path), skip.reason)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{skip.path}\n{skip.reason}"
        return None


class SkipTable(QWidget):
    """Every file not used and why; sortable by any column, filterable by text."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = SkipTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)            # match any column
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter skipped files…")
        self.filter.setClearButtonEnabled(True)
        self.view = QTableView()
        self.view.setObjectName("skip_table")
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(2, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setStretchLastSection(True)
        # a reason wraps onto more lines (rows grow to fit it) rather than being cut; a long file or folder
        # name is elided in its middle; the tooltip of every cell holds the whole path and reason
        self.view.setWordWrap(True)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.horizontalHeader().sectionResized.connect(self._fit_rows)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter)
        layout.addWidget(self.view, 1)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)

    FIT_ROWS_UP_TO = 2000   # rows measured to fit their reason; past that, one line each (and the tooltip)

    def set_skipped(self, skipped: list[Skipped]) -> None:
        self.model.set_skipped(skipped)
        self.view.resizeColumnToContents(0)
        self.view.setColumnWidth(0, min(self.view.columnWidth(0), 220))
        self._fit_rows()

    def _fit_rows(self, *_args) -> None:
        if self.model.rowCount() <= self.FIT_ROWS_UP_TO:
            self.view.resizeRowsToContents()

    def visible_rows(self) -> list[tuple[str, str, str]]:
        """The table as shown (sorted, filtered): what tests and copy-paste see."""
        return [tuple(self.proxy.index(r, c).data() for c in range(3)) for r in range(self.proxy.rowCount())]


class PreviewStrip(QWidget):
    """A few images exactly as training sees them; with flip on, their mirror images below."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.caption = QLabel("Load images to see them after preprocessing.")
        self.caption.setWordWrap(True)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(4)
        self.grid.setVerticalSpacing(12)   # keeps the mirrored row visibly apart
        self.labels: list[QLabel] = []
        self.flipped_labels: list[QLabel] = []
        for _ in range(PREVIEW_COUNT):
            for store in (self.labels, self.flipped_labels):
                label = QLabel()
                label.setFixedSize(PREVIEW_EDGE, PREVIEW_EDGE)
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                store.append(label)
        self.columns = 0
        self._reflow(PREVIEW_COUNT)
        # The images wrap onto more rows in a narrow dock instead of forcing the window wider.
        self.setMinimumWidth(PREVIEW_EDGE + 24)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(self.grid)
        layout.addStretch(1)
        self.dataset: ImageDataset | None = None
        self.flip = False

    def _reflow(self, columns: int) -> None:
        """Lay the images out `columns` a row, each with its mirrored image right below it."""
        columns = max(1, min(PREVIEW_COUNT, columns))
        if columns == self.columns:
            return
        self.columns = columns
        for i, (label, mirrored) in enumerate(zip(self.labels, self.flipped_labels)):
            row, column = divmod(i, columns)
            self.grid.removeWidget(label)
            self.grid.removeWidget(mirrored)
            self.grid.addWidget(label, 2 * row, column)
            self.grid.addWidget(mirrored, 2 * row + 1, column)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        margins = self.layout().contentsMargins()
        usable = event.size().width() - margins.left() - margins.right()
        self._reflow((usable + self.grid.horizontalSpacing()) // (PREVIEW_EDGE + self.grid.horizontalSpacing()))

    def picks(self) -> list[int]:
        n = len(self.dataset) if self.dataset is not None else 0
        return sorted(set(np.linspace(0, n - 1, min(n, PREVIEW_COUNT)).round().astype(int).tolist())) if n else []

    def show_dataset(self, dataset: ImageDataset | None, flip: bool) -> None:
        self.dataset, self.flip = dataset, flip
        picks = self.picks()
        for i, (label, mirrored) in enumerate(zip(self.labels, self.flipped_labels)):
            if i < len(picks):
                image = np.asarray(dataset.images[picks[i]])
                label.setPixmap(self._pixmap(image))
                label.setToolTip(dataset.paths[picks[i]] if picks[i] < len(dataset.paths) else "")
                mirrored.setPixmap(self._pixmap(image[:, ::-1]) if flip else QPixmap())
                mirrored.setVisible(flip)
            else:
                label.clear()
                mirrored.clear()
                mirrored.setVisible(False)
        if dataset is None or not picks:
            self.caption.setText("Load images to see them after preprocessing.")
        else:
            s = dataset.info.get("settings", {})
            kind = "grey" if dataset.channels == 1 else "RGB"
            self.caption.setText(f"{len(picks)} of {count(len(dataset), 'image')} as the model sees them: "
                                 f"{dataset.size}×{dataset.size} {kind}, {s.get('fit', 'center-crop')}"
                                 + (", background " + s["background"] if "background" in s else "")
                                 + ("; below: mirrored, as flip shows them half of the time" if flip else ""))

    @staticmethod
    def _pixmap(image: np.ndarray) -> QPixmap:
        qimage = to_qimage(np.ascontiguousarray(image))
        # Nearest neighbour: small training images should look pixelated, not blurred into detail.
        return QPixmap.fromImage(qimage.scaled(PREVIEW_EDGE, PREVIEW_EDGE, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.FastTransformation))
