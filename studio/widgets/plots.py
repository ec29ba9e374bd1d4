"""pyqtgraph views for panels: a modest size hint and a layout that keeps its full size when plots are
hidden and shown."""

from __future__ import annotations

from PySide6 import QtCore  # noqa: F401 - imported before pyqtgraph so it binds to PySide6
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel

import pyqtgraph as pg


def plain_axes(plot) -> None:
    """Axes without pyqtgraph's automatic SI prefix: with it, every range change of an axis rewrote its
    label and re-set its height (a re-layout of the plot) — on each live redraw of a loss curve, the
    GUI thread's largest cost after painting. The studio's labels carry no units, so the prefix would
    only ever have written "(x0.001)" beside a loss, read as a thousand times too small."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        if axis.autoSIPrefix:
            axis.enableAutoSIPrefix(False)


class PlotArea(pg.GraphicsLayoutWidget):
    """A GraphicsLayoutWidget fit for a dock.

    - Its size hint is small: the panel's scroll area sizes a panel with wrapping labels by their
      preferred heights, and pyqtgraph's 640×480 hint made the Losses panel taller than its dock.
    - `set_item_visible` hides or shows a plot and gives the layout the whole view again: with every
      plot hidden, the layout collapses to nothing, and the first plot shown after that came back a few
      pixels tall (the Losses plot at the start of every run) until the dock was resized.
    """

    HINT = QSize(320, 200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # what an empty view says (set_placeholder), over the view while the panel shows it
        self.placeholder = QLabel(self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("color: #777; background: transparent;")
        self.placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.placeholder.hide()

    def set_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.placeholder.setGeometry(self.rect().adjusted(12, 12, -12, -12))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if getattr(self, "placeholder", None) is not None:  # pyqtgraph resizes during __init__
            self.placeholder.setGeometry(self.rect().adjusted(12, 12, -12, -12))

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return self.HINT

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(120, 120)

    def set_item_visible(self, item, visible: bool) -> None:
        if item.isVisible() != bool(visible):
            item.setVisible(bool(visible))
        self.fill()

    def fill(self) -> None:
        """The layout takes the whole view (what a resize of the view does)."""
        if self.ci.geometry() != self.range:
            self.ci.setGeometry(self.range)


class CompactPlot(pg.PlotWidget):
    """A PlotWidget with PlotArea's small size hint (a plot inside a panel that may scroll), plain axes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        plain_axes(self.getPlotItem())

    def sizeHint(self) -> QSize:  # noqa: N802
        return PlotArea.HINT

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(120, 100)


def forget_views(root) -> int:
    """Take the view boxes under `root` out of pyqtgraph's list of live views, before the window goes.

    At quit pyqtgraph disconnects `destroyed()` of every view it still lists; for a view whose widget is
    already deleted PySide6 printed "Failed to disconnect (NoneType) from signal destroyed()" on every quit."""
    forgotten = 0
    views = root.findChildren(pg.GraphicsView)
    if isinstance(root, pg.GraphicsView):
        views.append(root)
    for view in views:
        scene = view.scene()
        for item in scene.items() if scene is not None else []:
            if isinstance(item, pg.ViewBox) and item in pg.ViewBox.AllViews:
                pg.ViewBox.AllViews.pop(item, None)
                forgotten += 1
    pg.ViewBox.updateAllViewLists()
    return forgotten
