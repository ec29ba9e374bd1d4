"""Studio tests: offscreen Qt, and every setting/workspace path inside the test's tmp_path."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest

from .helpers import configure_tiny_run, dispose, in_sight, load_into, write_blob_folder  # noqa: F401 - fixtures use them


@pytest.fixture(autouse=True)
def isolated_studio(tmp_path, monkeypatch):
    """Never touch the person's own layout or runs."""
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setenv("GENSTUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    yield


@pytest.fixture
def blob_folder(tmp_path):
    return write_blob_folder(tmp_path / "blobs")


@pytest.fixture
def window(qtbot):
    from studio.main_window import STOP_AND_SAVE, MainWindow
    w = MainWindow()
    w.close_policy = lambda: STOP_AND_SAVE
    w.show()
    yield w
    w.state.shutdown(30_000)  # joins any worker left running by a failed test
    w.close()
    dispose(w)


@pytest.fixture
def laptop_window(qtbot, monkeypatch):
    """The main window as a 1280×720 screen lays it out (the default layout for that screen)."""
    from studio.main_window import STOP_AND_SAVE, MainWindow
    monkeypatch.setattr(MainWindow, "_available_size", lambda self: (1280, 720))
    w = MainWindow()
    w.close_policy = lambda: STOP_AND_SAVE
    w.show()
    qtbot.waitUntil(lambda: w.width() == 1280)
    yield w
    w.state.shutdown(30_000)
    w.close()
    dispose(w)
