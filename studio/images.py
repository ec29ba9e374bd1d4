"""numpy uint8 images -> Qt images, without keeping references to freed memory."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_qimage(image: np.ndarray) -> QImage:
    """uint8 (H, W, 1|3) -> a QImage that owns its pixels (copied, so the array may go away)."""
    image = np.ascontiguousarray(image)
    h, w, c = image.shape
    fmt = QImage.Format.Format_Grayscale8 if c == 1 else QImage.Format.Format_RGB888
    return QImage(image.data, w, h, w * c, fmt).copy()


def to_pixmap(image: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(image))
