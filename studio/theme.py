"""Light or dark, as the system says (QStyleHints.colorScheme), and the plots with it.

GENSTUDIO_THEME=dark|light overrides the system. On a dark system the studio takes Qt's Fusion style
with a dark palette (the native style may not have one), pyqtgraph plots get a dark background and
light axes, and a change of the system's scheme while the studio runs is followed.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

THEME_ENV = "GENSTUDIO_THEME"
PLOT_COLOURS = {"light": ("#ffffff", "#3e4c59"), "dark": ("#1e1f22", "#c8ccd2")}   # background, axes


def wanted_scheme(app: QGuiApplication | None = None) -> str:
    """"dark" or "light": the override when set, else the system's colour scheme."""
    forced = os.environ.get(THEME_ENV, "").strip().lower()
    if forced in PLOT_COLOURS:
        return forced
    app = app or QGuiApplication.instance()
    if app is not None and app.styleHints().colorScheme() == Qt.ColorScheme.Dark:
        return "dark"
    return "light"


def dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor("#2b2d31"), QColor("#1e1f22"), QColor("#e3e5e8")
    disabled = QColor("#7f848c")
    for role, colour in ((QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
                         (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, window),
                         (QPalette.ColorRole.ToolTipBase, base), (QPalette.ColorRole.ToolTipText, text),
                         (QPalette.ColorRole.PlaceholderText, disabled), (QPalette.ColorRole.Text, text),
                         (QPalette.ColorRole.Button, QColor("#36383e")), (QPalette.ColorRole.ButtonText, text),
                         (QPalette.ColorRole.BrightText, QColor("#ff6b6b")), (QPalette.ColorRole.Link, QColor("#6ea8fe")),
                         (QPalette.ColorRole.Highlight, QColor("#3d6fb4")),
                         (QPalette.ColorRole.HighlightedText, QColor("#ffffff")),
                         (QPalette.ColorRole.Light, QColor("#45484f")), (QPalette.ColorRole.Mid, QColor("#33353a")),
                         (QPalette.ColorRole.Dark, QColor("#18191b")), (QPalette.ColorRole.Shadow, QColor("#000000"))):
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def current() -> str:
    app = QApplication.instance()
    return (app.property("genstudio_theme") if app is not None else None) or "light"


def apply(app: QApplication, scheme: str | None = None) -> str:
    """Set the palette (and plot defaults) for `scheme` (default: what the system wants); returns it."""
    import pyqtgraph as pg

    scheme = scheme or wanted_scheme(app)
    if scheme == "dark":
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    elif app.property("genstudio_theme") == "dark":   # back from dark: the style's own light palette
        app.setPalette(app.style().standardPalette())
    app.setProperty("genstudio_theme", scheme)
    background, foreground = PLOT_COLOURS[scheme]
    pg.setConfigOptions(background=background, foreground=foreground)
    for widget in app.topLevelWidgets():
        restyle_plots(widget)
    return scheme


def solid_grid(axis, background: str, foreground: str) -> None:
    """Grid lines in the solid colour that pyqtgraph's translucent ones show on this background. Qt's
    raster engine fills translucent lines that span the plot on its thread pool and the GUI thread waits
    for them (on a busy machine, for a free core): on every repaint of a live loss plot."""
    from PySide6.QtGui import QColor

    strength = axis.grid / 255.0
    back, fore = QColor(background), QColor(foreground)
    mixed = QColor(*(round(b + (f - b) * strength) for b, f in zip(back.getRgb()[:3], fore.getRgb()[:3])))
    axis.setTickPen(mixed)
    # pyqtgraph fades finer tick levels by their alpha; opaque lines cannot fade, so the finest level
    # (a line every few steps) is left out rather than drawn as strong as the major lines
    axis.setStyle(tickAlpha=255, maxTickLevel=1)


def restyle_plots(root: QWidget) -> None:
    """Give every pyqtgraph view under `root` the current theme's background and axis colours."""
    import pyqtgraph as pg

    background, foreground = PLOT_COLOURS[current()]
    views = root.findChildren(pg.GraphicsView)
    if isinstance(root, pg.GraphicsView):
        views.append(root)
    for view in views:
        view.setBackground(background)
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem):
                item.setPen(foreground)
                item.setTextPen(foreground)
                if item.grid is not False:
                    solid_grid(item, background, foreground)
            elif isinstance(item, pg.LabelItem):
                item.setText(item.text, color=foreground)


def follow_system(app: QApplication) -> None:
    """Re-apply when the system switches between light and dark (unless GENSTUDIO_THEME fixes it)."""
    app.styleHints().colorSchemeChanged.connect(lambda _scheme: apply(app))
