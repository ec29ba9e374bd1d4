"""Builders shared by the studio tests (imported from here, never from a conftest)."""

from __future__ import annotations

import numpy as np
from PIL import Image


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
    model.train_for.setCurrentText("steps")  # the studio's first-run plan is five minutes: these count steps
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


def in_sight(window, panel_id, widget) -> bool:
    """`widget` is visible in its dock without scrolling (its whole rectangle inside the dock's view)."""
    from PySide6.QtCore import QRect
    window.show_panel(panel_id)
    scroll = window.docks[panel_id].widget()
    view = scroll.viewport()
    top_left = widget.mapTo(view, widget.rect().topLeft())
    return widget.isVisible() and view.rect().contains(QRect(top_left, widget.size()))


class Listener:
    """A plain Python object listening to a signal (as pytest-qt's signal blockers are): what it heard."""

    def __init__(self, signal):
        self.heard = []
        signal.connect(self.hear)

    def hear(self, *args):
        self.heard.append(args)
