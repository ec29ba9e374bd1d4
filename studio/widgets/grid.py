"""The grid of images every image panel shows: as large as fits, crisp pixels, clickable tiles, optional
column headers. Used by the Gallery, Timeline, Latent, Sampler, Translate, Tools and Style panels."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from engines.imaging import grid_cell

from ..images import to_qimage

GRID_PAD = 2  # make_grid's default padding


class GridView(QWidget):
    """Draws the grid as large as fits (integer zoom when possible, crisp pixels) and maps clicks."""

    tile_clicked = Signal(int, bool)   # index, add-to-selection

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid: np.ndarray | None = None
        self.image: QImage | None = None
        self.n = 0
        self.tile = 0
        self.columns = 1
        self.column_names: list[str] | None = None   # conditional grids: the class of each column
        self.selected: set[int] = set()
        # what an empty view says (each panel its own: "Samples appear here while training" is the Gallery's)
        self.placeholder = ""
        self.fixed_headers: list[str] | None = None   # column headers whatever the captions (CycleGAN's A, A→B, ...)
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_grid(self, grid: np.ndarray, n: int, tile: int, captions=None) -> None:
        """`captions`: a class name per image; when every column holds one class, its name heads it."""
        self.grid = grid  # kept alive with the QImage copy: both are small
        self.image = to_qimage(grid)
        self.n, self.tile = n, tile
        self.columns = max(1, (grid.shape[1] - GRID_PAD) // (tile + GRID_PAD))
        self.column_names = self.fixed_headers or self._column_names(captions)
        self.selected = {i for i in self.selected if i < n}
        self.update()

    def _column_names(self, captions) -> list[str] | None:
        if not captions or len(captions) < self.n:
            return None
        names = []
        for column in range(min(self.columns, self.n)):
            in_column = {captions[i] for i in range(column, self.n, self.columns)}
            if len(in_column) != 1:
                return None
            names.append(in_column.pop())
        return names

    def header_height(self) -> int:
        return self.fontMetrics().height() + 4 if self.column_names else 0

    def target_rect(self) -> QRect:
        if self.image is None:
            return QRect()
        iw, ih = self.image.width(), self.image.height()
        header = self.header_height()
        scale = min(self.width() / iw, max(self.height() - header, 1) / ih)
        if scale >= 3:
            scale = float(int(scale))  # whole-number zoom keeps pixels square and crisp
        w, h = int(iw * scale), int(ih * scale)
        return QRect((self.width() - w) // 2, header + (self.height() - header - h) // 2, w, h)

    def tile_at(self, pos: QPoint) -> int | None:
        if self.grid is None:
            return None
        r = self.target_rect()
        if r.width() == 0 or not r.contains(pos):
            return None
        x = int((pos.x() - r.x()) * self.image.width() / r.width())
        y = int((pos.y() - r.y()) * self.image.height() / r.height())
        return grid_cell(self.grid.shape, self.tile, self.n, x, y, columns=self.columns, pad=GRID_PAD)

    def tile_rect(self, index: int) -> QRect:
        r = self.target_rect()
        scale = r.width() / self.image.width()
        row, col = divmod(index, self.columns)
        x = GRID_PAD + col * (self.tile + GRID_PAD)
        y = GRID_PAD + row * (self.tile + GRID_PAD)
        return QRect(r.x() + int(x * scale), r.y() + int(y * scale),
                     int(round(self.tile * scale)), int(round(self.tile * scale)))

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        if self.image is None:
            painter.setPen(QColor("#7b8794"))
            if self.placeholder:
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                                 self.placeholder)
            return
        target = self.target_rect()
        # crisp pixels at whole-number zoom; smooth when the zoom is fractional (no uneven pixels)
        fractional = target.width() % self.image.width() != 0
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, fractional)
        painter.drawImage(target, self.image)
        if self.column_names:
            painter.setPen(self.palette().color(self.foregroundRole()))
            header = self.header_height()
            for column, name in enumerate(self.column_names):
                cell = self.tile_rect(column)
                box = QRect(cell.x(), target.y() - header, cell.width(), header)
                text = self.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, max(box.width(), 8))
                painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.setPen(QPen(QColor("#f5a623"), 2))
        for i in sorted(self.selected):
            painter.drawRect(self.tile_rect(i).adjusted(-1, -1, 1, 1))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        index = self.tile_at(event.position().toPoint())
        if index is None:
            return
        add = bool(event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
        self.tile_clicked.emit(index, add)
