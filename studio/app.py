"""Start the studio: QApplication, main window, folders from the command line."""

from __future__ import annotations

import os
import sys

from . import workspace


def make_app():
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    # The training thread runs Python between torch ops; with the default 5 ms switch interval the
    # GUI thread can wait that long for the GIL after every Qt call that released it. 1 ms keeps
    # the event loop prompt at no measurable cost to training (torch computes without the GIL).
    sys.setswitchinterval(0.001)
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(workspace.ORGANISATION)
    app.setApplicationName(workspace.APPLICATION)
    app.setApplicationDisplayName("genstudio")
    if app.property("genstudio_theme") is None:   # once per application: light or dark as the system is
        from . import theme
        theme.apply(app)
        theme.follow_system(app)
    return app


def create_window(folders: list[str] | None = None):
    from . import theme
    from .main_window import MainWindow
    window = MainWindow()
    theme.restyle_plots(window)
    if folders:
        window.state.load(list(folders))
    return window


def scratch_window(prefix: str, size: tuple[int, int] | None = None):
    """(app, shown main window) on a throwaway workspace and settings file, offscreen when there is no
    display: for scripts and benchmarks that drive the real studio without touching a person's runs."""
    import tempfile
    from pathlib import Path

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ[workspace.WORKSPACE_ENV] = str(scratch / "workspace")
    os.environ[workspace.SETTINGS_ENV] = str(scratch / "settings.ini")
    app = make_app()
    window = create_window()
    if size is not None:
        window.resize(*size)
    window.show()
    keep_heap(window)
    return app, window


def keep_heap(window) -> None:
    """The real studio's garbage-collector policy (studio.heap): long-lived objects frozen, so an automatic
    full collection never stalls the window. Tests leave the collector as it is."""
    from .heap import HeapKeeper
    from .model_service import open_models
    window.heap_keeper = HeapKeeper(window.state, open_models())


def run_studio(folders: list[str]) -> int:
    app = make_app()
    from .errors import install_excepthook
    window = create_window(folders)
    install_excepthook(window.show_message)
    app.aboutToQuit.connect(window.state.shutdown)  # belt and braces: never leave a thread running
    window.show()
    keep_heap(window)
    return app.exec()


def smoke_launch(png: str | None = None, timeout_ms: int = 30000) -> int:
    """Open the real main window on the current platform (a throwaway workspace and settings), wait
    until the window system shows it, read its pixels back from the screen, close, and say so: CI
    runs this under Xvfb so a missing platform library cannot pass unnoticed. 0 when it showed."""
    import shutil
    import tempfile
    from pathlib import Path

    scratch = Path(tempfile.mkdtemp(prefix="genstudio-smoke-"))
    try:
        return _smoke_launch(scratch, png, timeout_ms)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _smoke_launch(scratch, png: str | None, timeout_ms: int) -> int:
    os.environ[workspace.WORKSPACE_ENV] = str(scratch / "workspace")
    os.environ[workspace.SETTINGS_ENV] = str(scratch / "settings.ini")
    app = make_app()
    from PySide6.QtTest import QTest
    window = create_window()
    window.show()
    platform = app.platformName()
    if not QTest.qWaitForWindowExposed(window, timeout_ms):
        print(f"genstudio: error: the window was not shown on {platform} within {timeout_ms / 1000:.0f} s",
              file=sys.stderr)
        return 1
    app.processEvents()
    shot = window.screen().grabWindow(window.winId()).toImage()
    colours = {shot.pixel(x, y) for x in range(0, shot.width(), 16) for y in range(0, shot.height(), 16)}
    if shot.isNull() or len(colours) < 2:
        print(f"genstudio: error: the window on {platform} shows nothing ({shot.width()}×{shot.height()})",
              file=sys.stderr)
        return 1
    if png:
        shot.save(png)
    size = window.frameGeometry().size()
    window.close()
    app.processEvents()
    print(f"genstudio: the studio window opened on {platform} ({size.width()}×{size.height()}, "
          f"{len(colours)} colours) and closed")
    return 0
