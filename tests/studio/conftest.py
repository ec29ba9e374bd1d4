"""Studio tests: offscreen Qt, and every setting/workspace path inside the test's tmp_path."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def isolated_studio(tmp_path, monkeypatch):
    """Never touch the person's own layout or runs."""
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setenv("GENSTUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    yield


def write_blob_folder(folder, n=32, size=16, classes=2, seed=0):
    """Small grey PNGs of soft blobs in class subfolders."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
        r = size * (0.12 + 0.08 * (i % classes))
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        out = folder / f"c{i % classes}"
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray((blob * 255).astype(np.uint8)).save(out / f"{i:03d}.png")
    return folder


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


def dispose(widget):
    """Delete a window now, at a safe point, rather than whenever the garbage collector gets to it
    (a collection in the middle of a later test's paint event would delete a widget being painted)."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def load_into(qtbot, window, folder, size=16):
    state = window.state
    with qtbot.waitSignal(state.dataset_changed, timeout=30_000):
        state.load([str(folder)], size=size)
    return state.dataset


def configure_tiny_run(window, steps=12, sample_every=4):
    """Set a tiny DCGAN through the Model panel's forms (what a person would type)."""
    model = window.panels["model"]
    model.family_box.setCurrentIndex(model.family_box.findData("dcgan"))  # the studio opens on SN-GAN
    form = model.family_form
    form.editor("latent_dim").setValue(8)
    form.editor("g_width").setValue(8)
    form.editor("d_width").setValue(8)
    settings = model.settings_form
    settings.editor("steps").setValue(steps)
    settings.editor("batch_size").setValue(8)
    settings.editor("sample_every").setValue(sample_every)
    settings.editor("n_samples").setValue(9)
    settings.editor("log_every").setValue(1)
    settings.editor("checkpoint_every").setValue(0)
    settings.editor("device").setCurrentIndex(settings.editor("device").findData("cpu"))
    assert window.state.config_error is None
    assert window.state.settings.steps == steps and window.state.config.g_width == 8


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


def in_sight(window, panel_id, widget) -> bool:
    """`widget` is visible in its dock without scrolling (its whole rectangle inside the dock's view)."""
    from PySide6.QtCore import QRect
    window.show_panel(panel_id)
    scroll = window.docks[panel_id].widget()
    view = scroll.viewport()
    top_left = widget.mapTo(view, widget.rect().topLeft())
    return widget.isVisible() and view.rect().contains(QRect(top_left, widget.size()))
