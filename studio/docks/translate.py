"""Translate panel: images given by the person, through a trained translator (CycleGAN's A->B or B->A;
any family with the translate capability), shown beside their translations and exported as one PNG
per image (relative names kept, as `genstudio translate` writes them).

Reading the files and translating run on the model's service thread; only the grid is made here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QMessageBox, QPushButton,
                               QVBoxLayout)

from engines.imaging import make_grid
from engines.tools.common import ToolError, output_paths, read_images, write_png
from engines.train.run_data import run_data_plan
from engines.words import count

from .. import dialogs
from ..flow import FlowLayout
from ..model_service import ModelService
from .base import RIGHT
from .explorer import ExplorerPanel
from ..widgets.grid import GridView


class TranslateService(ModelService):
    """The explorer's model thread plus one job: read image files as the run reads its data, translate."""

    translated = Signal(object)   # dict: sources, results (uint8 N,H,W,C), names, skipped [(path, reason)]

    def translate_files(self, paths: list[str], direction: str) -> None:
        def job(progress):
            engine = self._need_engine()
            data = run_data_plan(self.record)
            source = engine.channels_of(direction)[0]
            inputs = read_images(paths, engine.data.size, source, fit=data.fit, background=data.background)
            if not len(inputs):
                reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in inputs.skipped[:3])
                raise ToolError(f"no readable images ({reasons})" if reasons else "no readable images")
            results = engine.translate(inputs.images, direction, progress=progress)
            self.send("translated", {"sources": inputs.images, "results": results, "names": inputs.names,
                                  "skipped": inputs.skipped})
        self.submit("translate", job)


def _rgb(images: np.ndarray, channels: int) -> np.ndarray:
    return np.repeat(images, 3, axis=-1) if images.shape[-1] != channels else images


class TranslatePanel(ExplorerPanel):
    panel_id = "translate"
    title = "Translate"
    area = RIGHT
    tab_with = "losses"
    service_class = TranslateService
    job_kinds = ("translate",)

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.paths: list[str] = []
        self.last: dict | None = None        # the newest translation: results and their names
        self.choose_folder = lambda: dialogs.open_folder(self, "Export translations to", "export")
        self.confirm_replace = lambda folder: QMessageBox.question(
            self, "Replace files?", f"Some files in {folder} already exist. Replace them?") == QMessageBox.StandardButton.Yes

        self.direction = QComboBox()
        self.direction.setToolTip("a2b: images like the run's --data set into the other set's look; b2a: back")
        self.images_label = QLabel("No images chosen: drop files or folders here, or add them.")
        self.images_label.setWordWrap(True)
        self.add_files = QPushButton("Add images…")
        self.add_files.clicked.connect(self._add_files)
        self.add_folder = QPushButton("Add folder…")
        self.add_folder.clicked.connect(self._add_folder)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(lambda: self.set_paths([]))
        self.translate_button = QPushButton("Translate")
        self.translate_button.clicked.connect(self.translate)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("One PNG per image into a folder, names kept (never overwriting without asking)")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export)
        row = QHBoxLayout()
        row.addWidget(QLabel("Direction"))
        row.addWidget(self.direction, 1)
        buttons = FlowLayout()
        for b in (self.add_files, self.add_folder, self.clear_button, self.translate_button, self.stop_button,
                  self.export_button):
            buttons.addWidget(b)
        self.view = GridView()
        self.view.placeholder = "Open a translation run (CycleGAN), then add images to translate"
        layout = QVBoxLayout(self)
        layout.addWidget(self.chooser)
        layout.addLayout(row)
        layout.addWidget(self.images_label)
        layout.addLayout(buttons)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.setAcceptDrops(True)

        self.service.translated.connect(self._on_translated)
        self._update_enabled()

    # --- what to translate --------------------------------------------------------------------------

    def set_paths(self, paths: list[str]) -> None:
        self.paths = [str(p) for p in paths]
        self.images_label.setText(", ".join(Path(p).name for p in self.paths[:4])
                                  + (f" and {len(self.paths) - 4} more" if len(self.paths) > 4 else "")
                                  if self.paths else "No images chosen: drop files or folders here, or add them.")
        self._update_enabled()

    def _add_files(self) -> None:
        files = dialogs.open_files(self, "Images to translate", "images")
        if files:
            self.set_paths(self.paths + files)

    def _add_folder(self) -> None:
        folder = dialogs.open_folder(self, "A folder of images to translate", "images")
        if folder:
            self.set_paths(self.paths + [folder])

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile() and u.toLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.set_paths(self.paths + paths)

    # --- the model ----------------------------------------------------------------------------------
    def on_loaded(self, info: dict) -> None:
        self.direction.clear()
        why = info.get("why_not", {}).get("translate", "")
        if not why:
            for d, source, target in info.get("directions", []):   # worked out on the model's thread
                kinds = {1: "grey", 3: "RGB"}
                self.direction.addItem(f"{d} ({kinds[source]} → {kinds[target]})", d)
        self.say(f"{why}: Translate needs a run of a family that translates (cyclegan, style)." if why else "")
        self._update_enabled()

    def on_open_failed(self) -> None:
        self._update_enabled()

    def _update_enabled(self) -> None:
        can = bool(self.info) and not self.info.get("why_not", {}).get("translate")
        self.direction.setEnabled(can)
        self.translate_button.setEnabled(can and bool(self.paths))
        self.translate_button.setToolTip("" if can and self.paths else
                                         "Open a translating run first" if not can else "Choose images first")
        self.export_button.setEnabled(self.last is not None)

    def translate(self) -> None:
        if not self.paths or self.direction.currentData() is None:
            return
        self.say("Translating…")
        self.service.translate_files(list(self.paths), self.direction.currentData())



    def _on_translated(self, result: dict) -> None:
        self.last = result
        sources, results = result["sources"], result["results"]
        channels = max(sources.shape[-1], results.shape[-1])
        pairs = np.stack([_rgb(sources, channels), _rgb(results, channels)], axis=1).reshape(-1, *results.shape[1:3],
                                                                                             channels)
        columns = 2 * max(1, min(4, int(np.ceil(np.sqrt(len(sources))))))
        self.view.set_grid(make_grid(pairs, columns=columns), len(pairs), results.shape[1])
        skipped = result["skipped"]
        # each skipped file with its own reason (a text file and a damaged PNG are skipped for different ones)
        note = (f"; skipped {count(len(skipped), 'file')}: "
                + "; ".join(f"{Path(p).name} ({r})" for p, r in skipped[:3]) + ("; …" if len(skipped) > 3 else "")
                if skipped else "")
        self.say(f"Translated {count(len(results), 'image')} (each beside its translation){note}.")
        self._update_enabled()

    def export(self, folder: str | None = None) -> list[Path]:
        """Write each translation as PNG under `folder` with its relative name; asks before replacing."""
        if self.last is None:
            return []
        folder = folder or self.choose_folder()
        if not folder:
            return []
        names = self.last["names"]
        try:
            paths = output_paths(folder, names, force=True)  # refuses names that would collide
            if any(p.exists() for p in paths) and not self.confirm_replace(folder):
                return []
            for image, path in zip(self.last["results"], paths):
                write_png(image, path)
        except (ToolError, OSError) as exc:
            self.say(f"Export failed: {exc}")
            return []
        self.say(f"Exported {count(len(paths), 'image')} to {folder}.")
        return paths

