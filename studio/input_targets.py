"""One compact drop target per extra input of the chosen family (CycleGAN's set B, a style image, a
first-stage run): what it expects, what was given, a count and a few thumbnails.

The main image set keeps the Dataset panel's own drop zone. Looking at what was dropped (counting
image files, reading a few thumbnails) happens on a worker thread; only the pixmaps are made here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engines.data import ALLOWED_FORMATS
from engines.families.base import InputSpec
from engines.words import count

from . import dialogs
from .background import gui_poster, post_to_gui
from .images import to_qimage

THUMBS = 6
THUMB_PX = 32
_IMAGE_SUFFIXES = tuple(f".{e.lower()}" for e in ALLOWED_FORMATS) if ALLOWED_FORMATS else (".png", ".jpg", ".jpeg")


def image_files(paths: list[str], limit: int = 100_000) -> list[str]:
    """Image files under `paths` (folders walked), at most `limit`, sorted for repeatable thumbnails."""
    found: list[str] = []
    for p in paths:
        if os.path.isfile(p):
            found.append(p)
            continue
        for root, dirs, files in os.walk(p):
            dirs.sort()
            for f in sorted(files):
                if f.lower().endswith(_IMAGE_SUFFIXES):
                    found.append(os.path.join(root, f))
                    if len(found) >= limit:
                        return found
    return found


class _Look(QRunnable):
    """Count image files and read a few thumbnails (off the GUI thread); `done(token, count, thumbs)`
    (thumbs: uint8 (H, W, C) arrays) runs on the GUI thread, posted there for `receiver` (skipped if it
    was deleted meanwhile). Nothing is emitted from this runnable, which the pool frees when it ends."""

    def __init__(self, token: int, paths: list[str], receiver: QObject, done):
        super().__init__()
        gui_poster()   # made on the GUI thread, before the pool thread posts to it
        self.token, self.paths, self.receiver, self.done = token, paths, receiver, done

    def run(self) -> None:
        from engines.data.decode import load_image
        files = image_files(self.paths)
        thumbs = []
        for f in files[:THUMBS]:
            try:  # the one safe opener (engines/data/decode.py): no EPS, no bombs, even for a thumbnail
                im = load_image(f, draft=THUMB_PX).convert("RGB")
                im.thumbnail((THUMB_PX, THUMB_PX))
                thumbs.append(np.asarray(im, dtype=np.uint8))
            except Exception:  # noqa: BLE001 - a thumbnail is a nicety; training says what is wrong
                continue
        post_to_gui(self.receiver, self.done, self.token, len(files), thumbs)


class InputTarget(QFrame):
    """A drop target for one named input; `changed(name, paths)` when the person gives or clears it."""

    changed = Signal(str, list)

    def __init__(self, spec: InputSpec, parent: QWidget | None = None):
        super().__init__(parent)
        self.spec = spec
        self.paths: list[str] = []
        self._token = 0
        self.setObjectName(f"input_{spec.name}")
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(f"<b>{spec.name}</b>{'' if spec.required else ' (optional)'}: {spec.help}")
        self.title.setWordWrap(True)
        self.title.setToolTip(f"Expects {spec.expects()}.")
        self.status = QLabel(self._empty_text())
        self.status.setWordWrap(True)
        self.strip = QHBoxLayout()
        self.strip.setSpacing(2)
        self.strip.addStretch(1)
        self.choose = QPushButton("Choose…")
        self.choose.clicked.connect(self._choose)
        self.clear = QPushButton("Clear")
        self.clear.clicked.connect(lambda: self.set_paths([]))
        self.clear.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.choose)
        row.addWidget(self.clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addLayout(self.strip)

    def _empty_text(self) -> str:
        what = {"images": "folders or image files", "image": "one image file", "run": "a run folder or model file"}
        return f"Drop {what[self.spec.kind]} here."

    # --- giving it ---------------------------------------------------------------------------------
    def set_paths(self, paths: list[str]) -> None:
        if self.spec.kind != "images":
            paths = paths[:1]
        self.paths = [str(p) for p in paths]
        self.clear.setEnabled(bool(self.paths))
        self._show_thumbnails([])
        if not self.paths:
            self.status.setText(self._empty_text())
        else:
            names = ", ".join(Path(p).name or p for p in self.paths)
            self.status.setText(names if self.spec.kind == "run" else f"{names} — looking…")
            if self.spec.kind != "run":
                self._token += 1
                job = _Look(self._token, list(self.paths), self, self._on_looked)
                QThreadPool.globalInstance().start(job)
        self.changed.emit(self.spec.name, list(self.paths))

    def _choose(self) -> None:
        if self.spec.kind == "image":
            path = dialogs.open_file(self, f"Choose {self.spec.name}", "images")
        elif self.spec.kind == "run":
            path = dialogs.open_folder(self, f"Choose the run for {self.spec.name}", "runs")
        else:
            path = dialogs.open_folder(self, f"Choose a folder for {self.spec.name}", "images")
        if path:
            self.set_paths([path])

    def _on_looked(self, token: int, n: int, thumbs: list) -> None:
        if token != self._token:
            return  # something newer was dropped meanwhile
        names = ", ".join(Path(p).name or p for p in self.paths)
        self.status.setText(f"{names} — {count(n, 'image')}" if n else f"{names} — no images found")
        self._show_thumbnails(thumbs)

    def _show_thumbnails(self, thumbs: list) -> None:
        while self.strip.count() > 1:
            item = self.strip.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for t in thumbs:
            label = QLabel()
            label.setPixmap(QPixmap.fromImage(to_qimage(t)))
            self.strip.insertWidget(self.strip.count() - 1, label)

    # --- drag and drop -------------------------------------------------------------------------------
    def _local(self, event) -> list[str]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self._local(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = self._local(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.set_paths(paths)


class InputTargets(QWidget):
    """The targets of the current family's extra inputs (none for a family with only `data`)."""

    def __init__(self, state, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.targets: dict[str, InputTarget] = {}
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        state.family_changed.connect(lambda _name: self.rebuild())
        self.rebuild()

    def rebuild(self) -> None:
        for t in self.targets.values():
            t.deleteLater()
        self.targets = {}
        for spec in self.state.family_inputs()[1:]:
            target = InputTarget(spec, self)
            given = self.state.input_paths.get(spec.name)
            if given:
                target.set_paths(given)
            target.changed.connect(self.state.set_input)
            self.layout_.addWidget(target)
            self.targets[spec.name] = target
        self.setVisible(bool(self.targets))
