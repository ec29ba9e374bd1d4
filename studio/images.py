"""numpy uint8 images -> Qt images, without keeping references to freed memory."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def to_qimage(image: np.ndarray) -> QImage:
    """uint8 (H, W, 1|3) -> a QImage that owns its pixels (copied, so the array may go away)."""
    image = np.ascontiguousarray(image)
    h, w, c = image.shape
    fmt = QImage.Format.Format_Grayscale8 if c == 1 else QImage.Format.Format_RGB888
    return QImage(image.data, w, h, w * c, fmt).copy()


def to_pixmap(image: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(image))


def file_thumbnail(path, side: int) -> QPixmap:
    """A picture file (a run's sample grid, ...) as a pixmap fitting side × side, read through the one
    safe opener (engines/data/decode.py: formats by content, pixel and size limits), never by Qt's own
    readers; a null pixmap for a file it refuses or cannot read (a thumbnail is a nicety)."""
    from engines.data.decode import load_image
    try:
        im = load_image(path, draft=side)
        im = im.convert("L" if im.mode in ("1", "L", "I;16", "I", "F") else "RGB")
        im.thumbnail((side, side))
        pixels = np.asarray(im, dtype=np.uint8)
    except Exception:  # noqa: BLE001 - refused (hostile, too big), unreadable or gone: no picture
        return QPixmap()
    pixmap = to_pixmap(pixels[..., None] if pixels.ndim == 2 else pixels)
    if max(pixmap.width(), pixmap.height()) < side:   # a small grid is enlarged, its pixels kept sharp
        pixmap = pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
    return pixmap
