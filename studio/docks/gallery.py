"""Gallery panel: the latest sample grid, click to enlarge, select tiles, export PNG.

The grid comes from the engine (engines.imaging.make_grid layout, fixed noise), so tiles are found
with engines.imaging.grid_cell. Click selects one tile, Ctrl/Shift-click adds or removes tiles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QMenu, QMessageBox, QPushButton, QSizePolicy, QSpinBox, QSplitter, QVBoxLayout

from engines import registry
from engines.imaging import make_grid, save_png
from engines.train import events as ev

from .. import dialogs
from ..flow import FlowLayout
from ..images import to_qimage
from ..widgets.grid import GridView
from .base import RIGHT, Panel
from engines.words import count

class Enlarged(QLabel):
    """One tile, scaled up with nearest neighbour."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(96, 96)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image: QImage | None = None
        self.setText("Click a sample to enlarge it")
        self.setStyleSheet("color: #7b8794;")
        self.setWordWrap(True)  # a narrow dock wraps the hint instead of cutting it

    def set_image(self, image: np.ndarray | None) -> None:
        self.image = None if image is None else to_qimage(image)
        self._refresh()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._refresh()

    def _refresh(self) -> None:
        if self.image is None:
            self.clear()
            self.setText("Click a sample to enlarge it")
            return
        side = max(1, min(self.width(), self.height()) - 8)
        zoom = max(1, side // max(self.image.width(), 1))
        from PySide6.QtGui import QPixmap
        self.setPixmap(QPixmap.fromImage(self.image.scaled(
            QSize(self.image.width() * zoom, self.image.height() * zoom),
            Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)))


class GalleryPanel(Panel):
    panel_id = "gallery"
    title = "Gallery"
    area = RIGHT
    split_from = "losses"
    split_orientation = Qt.Orientation.Horizontal

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        # Replaced in tests. ask_save_path returns "" when cancelled; confirm_overwrite -> bool.
        self.ask_save_path: Callable[[str, str], str] = self._dialog_save_path
        self.confirm_overwrite: Callable[[Path], bool] = self._dialog_confirm_overwrite

        self.latest: ev.Samples | None = None
        self.focus: int | None = None
        self.grid_view = GridView()
        self.grid_view.placeholder = "Samples appear here while training"
        self.grid_view.setObjectName("sample_grid")
        self.enlarged = Enlarged()
        self.caption = QLabel("No samples yet")
        self.export_selected_button = QPushButton("Export selected…")
        self.export_grid_button = QPushButton("Export grid…")
        self.scale_box = QSpinBox(minimum=1, maximum=16, value=4, prefix="×")
        self.scale_box.setToolTip("Enlarge exported images by this whole factor (nearest neighbour)")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.grid_view)
        splitter.addWidget(self.enlarged)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 300])
        bottom = FlowLayout()  # wraps in a narrow dock
        bottom.addWidget(self.caption)
        bottom.addWidget(QLabel("Scale"))
        bottom.addWidget(self.scale_box)
        bottom.addWidget(self.export_selected_button)
        bottom.addWidget(self.export_grid_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

        self.grid_view.tile_clicked.connect(self.click_tile)
        self.grid_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid_view.customContextMenuRequested.connect(self._tile_menu)
        self.export_selected_button.clicked.connect(lambda: self.export_selected())
        self.export_grid_button.clicked.connect(lambda: self.export_grid())
        state.samples.connect(self.show_samples)
        state.run_started.connect(self._on_started)
        state.run_opened.connect(self._on_opened)
        self._update_buttons()

    # --- samples --------------------------------------------------------------------------------
    def _on_started(self, event: ev.Started) -> None:
        self.grid_view.selected.clear()
        self.state.gallery_selection_changed.emit([])

    def _on_opened(self, history) -> None:
        """A past run: its newest sample grid from samples/."""
        self.grid_view.selected.clear()
        self.state.gallery_selection_changed.emit([])
        if history.samples is not None:
            self.show_samples(ev.Samples(history.samples_step or 0, history.samples, history.samples_grid))

    def _headers(self) -> tuple[str, ...] | None:
        """What the grid's columns are, when not samples from noise (a translator's inputs and outputs)."""
        try:
            return registry.get(self.state.family_name).engine_class.preview_headers
        except (KeyError, AttributeError):
            return None

    def show_samples(self, event: ev.Samples) -> None:
        self.latest = event
        headers = self._headers()
        self.grid_view.fixed_headers = list(headers) if headers else None
        self.grid_view.set_grid(event.grid, len(event.images), int(event.images.shape[1]), event.captions)
        if headers:
            rows = len(event.images) // max(len(headers), 1)
            what = f"{count(rows, 'row')} of fixed images: " + ", ".join(headers)
        else:
            what = f"{count(len(event.images), 'sample')} from fixed noise"
        self.caption.setText(f"Step {event.step:,} · {what}")
        if self.focus is not None and self.focus < len(event.images):
            self.enlarged.set_image(event.images[self.focus])
        self._update_buttons()

    def click_tile(self, index: int, add: bool = False) -> None:
        sel = self.grid_view.selected
        if add:
            sel.symmetric_difference_update({index})
        else:
            sel.clear()
            sel.add(index)
        self.focus = index
        self.enlarged.set_image(self.latest.images[index] if self.latest is not None else None)
        self.grid_view.update()
        self._update_buttons()
        if self.latest is not None and index < len(self.latest.images):
            self.state.image_clicked.emit(self.pick(index))  # the Latent panel may be waiting for one
        self.state.gallery_selection_changed.emit([self.pick(i) for i in self.selected()])

    def pick(self, index: int) -> dict:
        """What an end point needs from tile `index`: the image, its class (conditional runs), where from."""
        captions = getattr(self.latest, "captions", None)
        label = captions[index] if captions is not None and index < len(captions) else None
        return {"image": np.asarray(self.latest.images[index]), "label": label,
                "source": f"gallery sample {index}", "gallery_index": index}

    def _tile_menu(self, pos) -> None:
        index = self.grid_view.tile_at(pos)
        if index is None or self.latest is None or index >= len(self.latest.images):
            return
        menu = QMenu(self)
        for name in ("A", "B", "C", "D"):
            menu.addAction(f"Latent end point {name}",
                           lambda name=name: self.state.endpoint_offered.emit(name, self.pick(index)))
        menu.exec(self.grid_view.mapToGlobal(pos))

    def selected(self) -> list[int]:
        return sorted(self.grid_view.selected)

    def _update_buttons(self) -> None:
        self.export_grid_button.setEnabled(self.latest is not None)
        self.export_selected_button.setEnabled(self.latest is not None and bool(self.grid_view.selected))

    # --- export ---------------------------------------------------------------------------------
    def export_selected(self) -> Path | None:
        if self.latest is None or not self.grid_view.selected:
            return None
        idx = self.selected()
        images = self.latest.images[idx]
        image = images[0] if len(idx) == 1 else make_grid(images)
        name = f"sample-step{self.latest.step}-{idx[0]}.png" if len(idx) == 1 else \
            f"samples-step{self.latest.step}-{len(idx)}.png"
        return self._export(image, "Export selected samples", name)

    def export_grid(self) -> Path | None:
        if self.latest is None:
            return None
        return self._export(self.latest.grid, "Export sample grid", f"grid-step{self.latest.step}.png")

    def _export(self, image: np.ndarray, title: str, suggested: str) -> Path | None:
        chosen = self.ask_save_path(title, suggested)
        if not chosen:
            return None
        path = Path(chosen)
        if path.suffix.lower() != ".png":
            # the dialog confirmed the name it showed; a name we changed needs its own question
            path = path.with_name(path.name + ".png")
            if path.exists() and not self.confirm_overwrite(path):
                return None
        try:
            save_png(image, path, scale=self.scale_box.value())
        except OSError as exc:
            self.state.notice.emit("error", f"Could not write {path}: {exc.strerror or exc}", "", "export:gallery")
            return None
        self.state.notice.emit("info", f"Saved {path}", "", "export:gallery")
        return path

    def _dialog_save_path(self, title: str, suggested: str) -> str:
        path = dialogs.save_file(self, title, "export", suggested, "PNG images (*.png)")
        return path  # the dialog itself asks before replacing an existing file

    def _dialog_confirm_overwrite(self, path: Path) -> bool:
        answer = QMessageBox.question(self, "Replace file?", f"{path.name} already exists. Replace it?")
        return answer == QMessageBox.StandardButton.Yes
