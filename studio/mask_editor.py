"""A mask editor for inpainting: the image at the run's size, enlarged, with the mask painted over it
in red. Brush (left button paints, right button erases) with a size, rectangles, invert, clear, or
a mask image loaded from a file (white = fill, black = keep)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .images import to_qimage

BRUSH, RECT = "brush", "rect"


class MaskEditor(QWidget):
    changed = Signal()

    def __init__(self, size: int = 16, parent=None):
        super().__init__(parent)
        self.size_px = int(size)
        self.mask = np.zeros((self.size_px, self.size_px), bool)
        self.image: np.ndarray | None = None
        self._qimage: QImage | None = None
        self.mode = BRUSH
        self.brush = max(1, self.size_px // 8)     # radius in the image's pixels
        self._drag: tuple[QPoint, bool] | None = None   # press position, painting (True) or erasing
        self._rubber: QRect | None = None
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Paint the region to fill (left button), erase with the right button")

    # --- state ----------------------------------------------------------------------------------
    def set_size(self, size: int) -> None:
        if int(size) != self.size_px:
            self.size_px = int(size)
            self.mask = np.zeros((self.size_px, self.size_px), bool)
            self.brush = max(1, self.size_px // 8)
            self.image = None
            self._qimage = None
            self.changed.emit()
        self.update()

    def set_image(self, image: np.ndarray | None) -> None:
        """uint8 (S, S, C) at the run's size, shown under the mask (None: a grey canvas)."""
        self.image = None if image is None else np.ascontiguousarray(image)
        self._qimage = None if image is None else to_qimage(self.image)
        self.update()

    def set_mask(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask, bool)
        if mask.shape != (self.size_px, self.size_px):
            raise ValueError(f"the mask must be {self.size_px}x{self.size_px}")
        self.mask = mask.copy()
        self.changed.emit()
        self.update()

    def clear(self) -> None:
        self.set_mask(np.zeros_like(self.mask))

    def invert(self) -> None:
        self.set_mask(~self.mask)

    def load(self, path, fit: str = "center-crop") -> None:
        from engines.tools.inpaint import load_mask

        self.set_mask(load_mask(path, self.size_px, fit))

    def paint_disk(self, x: float, y: float, value: bool = True) -> None:
        """Set the pixels within the brush radius of image point (x, y)."""
        yy, xx = np.mgrid[0:self.size_px, 0:self.size_px]
        r = self.brush - 0.5
        hit = (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= max(r, 0.5) ** 2
        hit[min(max(int(y), 0), self.size_px - 1), min(max(int(x), 0), self.size_px - 1)] = True
        self.mask[hit] = value
        self.changed.emit()
        self.update()

    def fill_rect(self, x0: int, y0: int, x1: int, y1: int, value: bool = True) -> None:
        """Set every pixel of the rectangle between two image pixels (both included)."""
        xa, xb = sorted((int(x0), int(x1)))
        ya, yb = sorted((int(y0), int(y1)))
        self.mask[max(ya, 0):yb + 1, max(xa, 0):xb + 1] = value
        self.changed.emit()
        self.update()

    # --- geometry -----------------------------------------------------------------------------------
    def target(self) -> QRect:
        side = min(self.width(), self.height())
        side -= side % self.size_px or 0
        side = max(side, self.size_px)
        return QRect((self.width() - side) // 2, (self.height() - side) // 2, side, side)

    def to_image(self, pos: QPoint) -> tuple[float, float]:
        t = self.target()
        scale = self.size_px / t.width()
        return (pos.x() - t.x()) * scale, (pos.y() - t.y()) * scale

    def to_widget(self, x: float, y: float) -> QPoint:
        """The widget point over image pixel coordinates (x, y) (tests click there)."""
        t = self.target()
        scale = t.width() / self.size_px
        return QPoint(int(t.x() + x * scale), int(t.y() + y * scale))

    # --- events -----------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        paint = event.button() == Qt.MouseButton.LeftButton
        if not paint and event.button() != Qt.MouseButton.RightButton:
            return
        pos = event.position().toPoint()
        self._drag = (pos, paint)
        if self.mode == BRUSH:
            self.paint_disk(*self.to_image(pos), value=paint)
        else:
            self._rubber = QRect(pos, pos)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None:
            return
        pos = event.position().toPoint()
        if self.mode == BRUSH:
            self.paint_disk(*self.to_image(pos), value=self._drag[1])
        else:
            self._rubber = QRect(self._drag[0], pos).normalized()
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None:
            return
        start, paint = self._drag
        self._drag = None
        if self.mode == RECT:
            x0, y0 = self.to_image(start)
            x1, y1 = self.to_image(event.position().toPoint())
            self._rubber = None
            self.fill_rect(int(x0), int(y0), int(x1), int(y1), value=paint)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        t = self.target()
        if self._qimage is not None:
            p.drawImage(t, self._qimage)
        else:
            p.fillRect(t, QColor("#3a3f44"))
        overlay = np.zeros((self.size_px, self.size_px, 4), np.uint8)
        overlay[self.mask] = (230, 40, 40, 150)
        img = QImage(overlay.data, self.size_px, self.size_px, self.size_px * 4, QImage.Format.Format_RGBA8888).copy()
        p.drawImage(t, img)
        p.setPen(QPen(QColor("#888"), 1))
        p.drawRect(t.adjusted(0, 0, -1, -1))
        if self._rubber is not None:
            p.setPen(QPen(QColor("#f5a623"), 2, Qt.PenStyle.DashLine))
            p.drawRect(self._rubber)
