"""Style panel: Gatys style transfer with a live preview.

Two drop targets (content, style) with thumbnails, the settings (a form generated from
engines.style.StyleOptions) and the feature network, Start/Stop, the current image as it is
optimised, a plot of the losses, and Export PNG. The optimisation runs on a background Worker that
only emits plain objects (StyleProgress, StyleResult, messages); widgets are touched here, in the
GUI thread. Stop keeps the image reached so far.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PySide6 import QtCore  # noqa: F401 - imported before pyqtgraph so it binds to PySide6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout

import pyqtgraph as pg

from engines.families.base import Cancelled
from engines.style import (FEATURE_CHOICES_HELP, FeatureError, StyleError, StyleOptions, StyleProgress,
                           load_features, stylize)
from engines.style.images import Skip, read_image

from .. import dialogs
from ..dialogs import ask_overwrite
from ..forms import ConfigForm
from ..images import to_pixmap
from ..widgets.plots import CompactPlot
from ..flow import FlowLayout
from ..widgets.drops import local_paths
from ..background import Worker
from .base import RIGHT, Panel
from ..widgets.grid import GridView

THUMB = 96
READ_LIMIT = 4096   # images are shrunk to at most twice this while decoding (results are at most 2048 px)
LOSS_COLOURS = {"total": "#222222", "content": "#2a6ebb", "style": "#d9534f", "tv": "#8a8a8a"}


class ImageDrop(QFrame):
    """A drop target for one image file, showing its thumbnail; a click opens a file dialog."""

    chosen = Signal(str, object)    # path, uint8 (H, W, 3)
    refused = Signal(str)           # a sentence: why the file cannot be used

    IDLE = "QFrame#%s { border: 2px dashed #9aa5b1; border-radius: 6px; }"
    HOVER = "QFrame#%s { border: 2px dashed #2a6ebb; border-radius: 6px; background: #e8f1fb; }"

    def __init__(self, name: str, title: str, parent=None):
        super().__init__(parent)
        self.setObjectName(name)
        self.title = title
        self.path: str | None = None
        self.image: np.ndarray | None = None
        self.setAcceptDrops(True)
        self.setStyleSheet(self.IDLE % name)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel(f"{title}\ndrop an image or click")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #52606d;")
        layout = QVBoxLayout(self)
        layout.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.caption)

    def load(self, path: str) -> bool:
        try:
            image = read_image(path, max_side=READ_LIMIT)
        except Skip as exc:
            self.refused.emit(f"{self.title}: {Path(path).name} cannot be used ({exc}).")
            return False
        self.path, self.image = path, image
        h, w = image.shape[:2]
        pix = to_pixmap(image).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                      Qt.TransformationMode.SmoothTransformation)
        self.thumb.setPixmap(pix)
        self.caption.setText(f"{self.title}\n{Path(path).name} ({w}×{h})")
        self.chosen.emit(path, image)
        return True

    def mousePressEvent(self, event) -> None:  # noqa: N802
        path = dialogs.open_file(self, f"Choose the {self.title.lower()}", "style images",
                                    "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff)")
        if path:
            self.load(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
            self.setStyleSheet(self.HOVER % self.objectName())
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self.setStyleSheet(self.IDLE % self.objectName())

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.setStyleSheet(self.IDLE % self.objectName())
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        files = [p for p in paths if Path(p).is_file()]
        if not files:
            self.refused.emit(f"{self.title}: drop one image file (not a folder).")
            return
        self.load(files[0])


def stylise_images(content: np.ndarray, style: np.ndarray, options: StyleOptions, features: str, report=None,
                   cancelled=None):
    """One stylisation (on a background Worker): loads the features, optimises, reports each
    StyleProgress; Stop ends the optimisation with the image reached so far (its result says stopped)."""
    loaded = load_features(features, seed=options.seed)

    def progress(p: StyleProgress) -> None:
        report(p)
        if cancelled():
            raise Cancelled

    return stylize(content, style, options, loaded, progress)


def translate_image(run_path: str, content: np.ndarray, size: int):
    """Stylise the content image in one pass with a trained run that translates (a `style` run)."""
    import time

    from engines.families import capabilities
    from engines.style import StyleResult
    from engines.style.gatys import check_size, fit_longest
    from engines.train.restore import load_engine

    t0 = time.perf_counter()
    engine, _record = load_engine(run_path)
    if not capabilities.has(engine, "translate"):
        raise StyleError(f"{Path(run_path).name}: {capabilities.why_not(engine, 'translate')}; "
                         f"train a style run (family style) to stylise in one pass")
    image = (fit_longest(content, check_size(size)) * 255).round().astype(np.uint8)
    out = engine.translate(image[None])[0]
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return StyleResult(out, 0, False, [], time.perf_counter() - t0)


STYLE_ERRORS = (FeatureError, StyleError)


class StylePanel(Panel):
    panel_id = "style"
    title = "Style"
    area = RIGHT
    tab_with = "losses"

    PROMPT = "Drop a content image and a style image."
    ONE_MORE = "Now the other image: drop it on its square (or click the square)."
    READY = "Ready: press Start to stylise the content image."

    finished = Signal(object)   # StyleResult, after the panel has shown it (stopped early or not)
    failed = Signal(str)        # the message shown

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.job: Worker | None = None
        self.result: np.ndarray | None = None
        self.history: dict[str, list[float]] = {k: [] for k in LOSS_COLOURS}
        self.confirm_overwrite: Callable[[Path], bool] = lambda path: ask_overwrite(self, path)

        self.content_drop = ImageDrop("style_content_drop", "Content image")
        self.style_drop = ImageDrop("style_style_drop", "Style image")
        drops = QHBoxLayout()
        drops.addWidget(self.content_drop)
        drops.addWidget(self.style_drop)
        for d in (self.content_drop, self.style_drop):
            d.chosen.connect(self._update_buttons)
            d.refused.connect(self.say)

        self.form = ConfigForm(StyleOptions, basic=("size", "steps", "style_weight", "optimizer", "init",
                                                    "preserve_colour", "seed"))
        self.form.valid_changed.connect(self._update_buttons)
        self.features_box = QComboBox()
        self.features_box.setToolTip(FEATURE_CHOICES_HELP)
        self.features_box.addItem("random features (no training, no download)", "random")
        self.features_box.addItem("features of a run…", "<run>")
        self.features_box.addItem("VGG-19 weights file (.safetensors)…", "<file>")
        self.features_box.activated.connect(self._on_features_activated)
        features_row = QHBoxLayout()
        features_row.addWidget(QLabel("Features"))
        features_row.addWidget(self.features_box, 1)

        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop now and keep the image reached so far")
        self.stop_button.clicked.connect(self.stop)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.clicked.connect(self._choose_export)
        self.translate_button = QPushButton("Translate with a run…")
        self.translate_button.setToolTip("Stylise the content image in one pass with a trained style run "
                                         "(family style): instant, no optimisation")
        self.translate_button.clicked.connect(self._choose_translate_run)
        buttons = FlowLayout()   # wraps in a narrow dock
        for b in (self.start_button, self.stop_button, self.translate_button, self.export_button):
            buttons.addWidget(b)

        self.view = GridView()
        self.view.placeholder = "The stylised image appears here"
        self.view.setMinimumHeight(160)
        self.plot_widget = CompactPlot(background="w")
        self.plot_widget.setMinimumHeight(90)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLogMode(y=True)
        self.plot.setLabel("bottom", "iteration")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.curves = {k: self.plot.plot(pen=pg.mkPen(c, width=2), name=k) for k, c in LOSS_COLOURS.items()}
        legend = " &nbsp;".join(f"<span style='color:{c}'>&#9644;</span>&nbsp;{k}" for k, c in LOSS_COLOURS.items())
        self.legend = QLabel(legend)
        self.legend.setWordWrap(True)
        self.status = QLabel(self.PROMPT)
        self.status.setWordWrap(True)

        # One column, no scroll area of its own (the dock scrolls): the images, then the main action and
        # what it says right under them, then the settings, then the result. The action is in sight at
        # 1280×720 (Start and Stop were below the fold, under a nested scroll area showing four rows).
        layout = QVBoxLayout(self)
        layout.addLayout(drops)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.form)
        layout.addLayout(features_row)
        layout.addWidget(self.view, 3)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.legend)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._update_buttons()

    # --- settings -------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.status.setText(text)

    def features_choice(self) -> str:
        return self.features_box.currentData()

    def set_features(self, choice: str) -> None:
        """'random', a run folder or a .safetensors file (added to the list and selected)."""
        index = self.features_box.findData(choice)
        if index < 0:
            label = f"run: {Path(choice).name}" if Path(choice).is_dir() else f"weights: {Path(choice).name}"
            self.features_box.insertItem(1, label, choice)
            index = 1
        self.features_box.setCurrentIndex(index)

    def _on_features_activated(self, index: int) -> None:
        data = self.features_box.itemData(index)
        if data == "<run>":
            path = dialogs.open_folder(self, "Choose a trained run (AE, VAE or GAN)", "runs")
        elif data == "<file>":
            path = dialogs.open_file(self, "Choose VGG-19 weights", "weights", "safetensors (*.safetensors)")
        else:
            return
        if path:
            self.set_features(path)
        else:
            self.features_box.setCurrentIndex(0)

    def _update_buttons(self, *_args) -> None:
        running = self.job is not None
        ready = self.content_drop.image is not None and self.style_drop.image is not None and self.form.is_valid()
        self.start_button.setEnabled(ready and not running)
        self.translate_button.setEnabled(self.content_drop.image is not None and not running)
        self.stop_button.setEnabled(running)
        self.export_button.setEnabled(self.result is not None and not running)
        for w in (self.content_drop, self.style_drop, self.form, self.features_box):
            w.setEnabled(not running)
        if not running and self.status.text() in (self.PROMPT, self.READY, self.ONE_MORE):
            # the prompt follows what is chosen (it said "Drop a content image…" after both were)
            chosen = (self.content_drop.image is not None) + (self.style_drop.image is not None)
            self.status.setText(self.READY if ready else self.ONE_MORE if chosen == 1 else self.PROMPT)

    # --- running ------------------------------------------------------------------------------
    def start(self) -> bool:
        if self.job is not None or self.content_drop.image is None or self.style_drop.image is None:
            return False
        try:
            options = self.form.config()
        except Exception as exc:  # noqa: BLE001 - ConfigError: the form already shows it
            self.say(str(exc))
            return False
        for values in self.history.values():
            values.clear()
        self.steps = []
        for curve in self.curves.values():
            curve.setData([], [])
        self.job = Worker(stylise_images, self.content_drop.image, self.style_drop.image, options,
                          self.features_choice(), expected=STYLE_ERRORS, parent=self)
        self.job.yielded.connect(self._on_progress)
        self.job.returned.connect(self._on_result)
        self.job.errored.connect(self._on_failed)
        self.job.finished.connect(self._on_job_ended)
        self.job.start()
        self._update_buttons()
        return True

    def _choose_translate_run(self) -> None:
        path = dialogs.open_folder(self, "Choose a trained style run", "runs")
        if path:
            self.translate_with(path)

    def translate_with(self, run_path: str | Path) -> bool:
        """Stylise the content image with a trained run (in a thread); False when nothing to do."""
        if self.job is not None or self.content_drop.image is None:
            return False
        size = int(self.form.editor("size").value())
        self.job = Worker(translate_image, str(run_path), self.content_drop.image, size, expected=STYLE_ERRORS,
                          parent=self)
        self.job.returned.connect(self._on_result)
        self.job.errored.connect(self._on_failed)
        self.job.finished.connect(self._on_job_ended)
        self.job.start()
        self._update_buttons()
        return True

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.say("Stopping; the current image is kept…")

    steps: list[int] = []

    def _on_progress(self, p: StyleProgress) -> None:
        self.steps.append(p.step)
        for k, values in self.history.items():
            values.append(max(p.losses.get(k, 0.0), 1e-4))   # log axis: the first content loss is ~0
        for k, curve in self.curves.items():
            curve.setData(self.steps, self.history[k])
        if p.image is not None:
            self._show(p.image)
            self.say(f"Step {p.step}/{p.total}: content {p.losses['content']:.3f}, style {p.losses['style']:.3f}")

    def _show(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        self.view.set_grid(image, 1, max(h, w))

    def _on_result(self, result) -> None:
        self.result = result.image
        self._show(result.image)
        h, w = result.image.shape[:2]
        how = f"stopped after {result.steps_done} steps" if result.stopped else \
            (f"{result.steps_done} steps" if result.steps_done else "one pass of a trained run")
        self.say(f"Done: {w}×{h}, {how} in {result.seconds:.1f} s. Export PNG to keep it.")
        self.finished.emit(result)

    def _on_failed(self, message: str, details: str) -> None:
        self.say(message)
        if details:
            self.state.message.emit("error", f"Style transfer failed: {message}", details)
        self.failed.emit(message)

    def _on_job_ended(self) -> None:
        job, self.job = self.job, None
        if job is not None:
            job.deleteLater()
        self._update_buttons()

    # --- export --------------------------------------------------------------------------------
    def _choose_export(self) -> None:
        if self.result is None:
            return
        path = dialogs.save_file(self, "Export stylised image", "export", "stylised.png", "PNG (*.png)")
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path) -> Path | None:
        if self.result is None:
            return None
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        if path.exists() and not self.confirm_overwrite(path):
            self.say("Export cancelled; nothing was overwritten.")
            return None
        from PIL import Image

        try:
            Image.fromarray(self.result, "RGB").save(path, format="PNG")
        except OSError as exc:
            self.say(f"Export failed: {exc.strerror or exc}")
            return None
        self.say(f"Exported {path}.")
        return path

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job.wait(30_000)
