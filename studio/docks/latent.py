"""Latent panel: morph between seeds, gallery samples or real images; strips, grids, walks; export.

All model work happens on a LatentService thread; the slider only posts the latest position, so
dragging it never blocks the window. On class-conditional runs every end point has a class too (a
dataset image or gallery sample brings its own; a seed gets the one picked), and the class morphs
from end point to end point along with the latent. The family's sampling options that shape latents
(StyleGAN's truncation psi and W/Z space, BigGAN's truncation) are editable here too: a change
re-places the end points and redraws.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QMenu, QPushButton, QSlider,
                               QSpinBox, QToolButton, QVBoxLayout, QWidget)

from engines.data.decode import load_image
from engines.data.ingest import to_array
from engines.export import ExportOptions
from engines.imaging import make_grid
from engines.latent import MODES

from .. import dialogs
from ..flow import FlowLayout
from ..images import to_pixmap
from ..dialogs import ask_overwrite, export_checked
from ..export_dialog import ask_export, with_changes
from .base import RIGHT
from .explorer import ExplorerPanel
from ..widgets.grid import GridView
from engines.words import count
from ..widgets.options import SamplingOptionsForm

ENDPOINTS = ("A", "B", "C", "D")
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff)"


def fit_to_model(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    """A uint8 (H, W, C) image from elsewhere (dataset, gallery) at the model's size and channels."""
    if image.shape[:2] == (size, size) and image.shape[-1] == channels:
        return image
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    return to_array(pil, size, channels, "center-crop")


class EndpointEditor(QWidget):
    """One end point: a seed or an image file typed or dropped, or picked from the data or gallery."""

    changed = Signal(str, object)   # name, ("seed", int) | ("image", array) | ("clear", None)

    def __init__(self, name: str, optional: bool, panel: "LatentPanel"):
        super().__init__(panel)
        self.name, self.optional, self.panel = name, optional, panel
        self.setAcceptDrops(True)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("optional: seed or image" if optional else "seed number or image file")
        self.edit.setToolTip("A whole number is a random seed; anything else is an image file. "
                             "You can also drop an image file here.")
        self.edit.editingFinished.connect(self._from_text)
        self.pick = QToolButton()
        self.pick.setText("From…")
        self.pick.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.pick)
        for text, slot in (("Random seed", self.random_seed), ("Image file…", self._choose_file),
                           ("Click an image (Dataset or Gallery)…", self.wait_for_click),
                           ("Dataset image", self.from_dataset), ("Gallery sample", self.from_gallery),
                           ("Clear", self.clear)):
            act = QAction(text, menu)
            act.triggered.connect(slot)
            menu.addAction(act)
        self.pick.setMenu(menu)
        self.class_box = QComboBox()
        self.class_box.setToolTip(f"Class at end point {name}: the image morphs into the next end point's class")
        self.class_box.currentIndexChanged.connect(self._on_class_changed)
        self.class_box.hide()
        self.class_label = QLabel("class")  # digits as class names would read like seeds without it
        self.class_label.setStyleSheet("color: #888;")
        self.class_label.hide()
        self.preview = QLabel()
        self.preview.setFixedSize(40, 40)
        self.preview.setStyleSheet("background:#202020; border:1px solid #444;")
        self.preview.setScaledContents(True)
        self.spec: tuple[str, object] | None = None   # the last thing this end point was set to
        self.gallery_index: int | None = None          # the gallery tile it came from, if it did
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.class_label)
        row.addWidget(self.class_box)
        row.addWidget(self.pick)
        row.addWidget(self.preview)
        self._counter = 0

    # --- its class (conditional runs) -----------------------------------------------------------
    def set_classes(self, names: list[str], default: int = 0) -> None:
        """Offer these classes (an empty list hides the choice: unconditional runs). The same classes
        again (another checkpoint of the run) keep the person's choice."""
        current = [self.class_box.itemText(k) for k in range(self.class_box.count())]
        if current == list(names) and names:
            default = self.class_box.currentIndex()
        self.class_box.blockSignals(True)
        self.class_box.clear()
        for i, class_name in enumerate(names):
            self.class_box.addItem(class_name, i)
        if names:
            self.class_box.setCurrentIndex(min(default, len(names) - 1))
        self.class_box.blockSignals(False)
        self.class_box.setVisible(bool(names))
        self.class_label.setVisible(bool(names))

    def label(self) -> int | None:
        """The chosen class index, or None when the run has no classes."""
        return self.class_box.currentData() if self.class_box.count() else None

    def set_label(self, index: int) -> None:
        """Choose a class without re-placing the end point (the caller sets the end point next)."""
        self.class_box.blockSignals(True)
        self.class_box.setCurrentIndex(index)
        self.class_box.blockSignals(False)

    def _on_class_changed(self, index: int) -> None:
        if index >= 0 and self.spec is not None:
            self.changed.emit(self.name, self.spec)  # re-placed with the new class

    # --- ways to set it -------------------------------------------------------------------------
    def _emit(self, spec: tuple[str, object]) -> None:
        self.spec = None if spec[0] == "clear" else spec
        self.gallery_index = None  # set again by set_pick when it came from a gallery tile
        self.changed.emit(self.name, spec)

    def set_seed(self, seed: int) -> None:
        self.edit.setText(str(seed))
        self._emit(("seed", int(seed)))

    def random_seed(self) -> None:
        self.set_seed(int(np.random.default_rng().integers(0, 100_000)))

    def set_image_file(self, path: str) -> None:
        self.edit.setText(path)
        self._from_text()

    def set_image(self, image: np.ndarray, label: str) -> None:
        self.edit.setText(label)
        self._emit(("image", np.array(image, dtype=np.uint8)))

    def set_pick(self, pick: dict) -> None:
        """A thumbnail chosen in the Dataset or Gallery panel: its image, and its class when it has one."""
        names = [self.class_box.itemText(k) for k in range(self.class_box.count())]
        label = pick.get("label")
        if names and label in names:
            self.set_label(names.index(label))
        elif names and pick.get("gallery_index") is not None:  # training draws classes 0, 1, 2, ... in turn
            self.set_label(int(pick["gallery_index"]) % len(names))
        self.set_image(pick["image"], pick["source"])
        self.gallery_index = pick.get("gallery_index")

    def wait_for_click(self) -> None:
        """The next thumbnail clicked in the Dataset or Gallery panel becomes this end point."""
        self.panel.wait_for_click(self.name)

    def from_dataset(self) -> None:
        data = self.panel.state.dataset
        if data is None or len(data) == 0:
            self.panel.say("Load a dataset first to pick one of its images.")
            return
        i = int(np.random.default_rng(self._counter + hash(self.name) % 1000).integers(len(data)))
        self._counter += 1
        names = [self.class_box.itemText(k) for k in range(self.class_box.count())]
        if names and len(data.class_names):  # the image's own class, matched by name
            own = data.class_names[int(data.labels[i])]
            if own in names:
                self.set_label(names.index(own))
        self.set_image(np.asarray(data.images[i]), f"dataset image {i}")

    def from_gallery(self) -> None:
        """The Gallery's selected tile (the next one not used by another end point), else a random
        sample that no other end point shows: A then B never get the same one."""
        images = self.panel.gallery_images
        if images is None or len(images) == 0:
            self.panel.say("The gallery is empty: train a little first.")
            return
        taken = {e.gallery_index for e in self.panel.endpoints.values() if e is not self and e.spec is not None}
        selected = [p for p in self.panel.gallery_selection if p["gallery_index"] not in taken]
        if selected:
            self.set_pick(selected[0])
            return
        free = [i for i in range(len(images)) if i not in taken] or list(range(len(images)))
        rng = np.random.default_rng([self._counter, ord(self.name)])
        self._counter += 1
        i = int(free[int(rng.integers(len(free)))])
        self.set_pick({"image": images[i], "label": None, "source": f"gallery sample {i}", "gallery_index": i})

    def clear(self) -> None:
        self.edit.clear()
        self.preview.clear()
        self._emit(("clear", None))

    def _choose_file(self) -> None:
        path = dialogs.open_file(self, f"Image for end point {self.name}", "images", IMAGE_FILTER)
        if path:
            self.set_image_file(path)

    def _from_text(self) -> None:
        text = self.edit.text().strip()
        if not text:
            if self.optional:
                self.clear()
            return
        if text.lstrip("+-").isdigit():  # a seed, as `genstudio interpolate --a SEED` takes it
            try:
                seed = int(text)
            except ValueError:   # digits int() does not read (², ³): not a seed
                seed = -1
            if not 0 <= seed < 2**63:
                self.panel.say(f"End point {self.name}: a seed is a whole number from 0 to 2^63-1, not {text}.")
                return
            self._emit(("seed", seed))
            return
        if text.startswith(("dataset image", "gallery sample")):
            return  # already set from the data or the gallery
        try:  # the one safe opener for images a person hands in (engines/data/decode.py)
            im = load_image(Path(text).expanduser())
            image = to_array(im, 256, 3 if im.mode not in ("L", "I;16", "1") else 1, "center-crop")
        except (OSError, ValueError) as exc:
            self.panel.say(f"End point {self.name}: {text} is not a readable image ({getattr(exc, 'reason', exc)}).")
            return
        self._emit(("image", image))

    def show_preview(self, image: np.ndarray | None) -> None:
        if image is None:
            self.preview.clear()
        else:
            self.preview.setPixmap(to_pixmap(image))

    # --- drops ----------------------------------------------------------------------------------
    def dragEnterEvent(self, event):  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            self.set_image_file(files[0])
            event.acceptProposedAction()


class LatentPanel(ExplorerPanel):
    panel_id = "latent"
    title = "Latent"
    area = RIGHT
    tab_with = "gallery"
    # every job of the panel shows its progress (end points, frames, sampling options)
    job_kinds = ("frame", "frames", "options", "endpoint:A", "endpoint:B", "endpoint:C", "endpoint:D")

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.gallery_images: np.ndarray | None = None
        self.gallery_selection: list[dict] = []   # the Gallery's selected tiles (state.gallery_selection_changed)
        self.waiting_for_click: str | None = None  # the end point the next clicked thumbnail becomes
        self.result: np.ndarray | None = None       # frames of the last strip / grid / walk
        self.result_kind = ""
        self.result_columns: int | None = None
        self.last_frame: tuple[float, np.ndarray] | None = None
        self.result_captions: list[str] | None = None   # the class mix of each frame (conditional runs)
        self._captions: dict[str, list[str] | None] = {}
        self.export_options = ExportOptions(scale=4)    # the last choices in the export dialog
        # asked before an export overwrites a file; tests replace it
        self.confirm_overwrite: Callable[[Path], bool] = lambda path: ask_overwrite(self, path)

        self._build()
        s = self.service
        s.endpoint_ready.connect(self._on_endpoint)
        s.frame_ready.connect(self._on_frame)
        s.frames_ready.connect(self._on_frames)
        s.captions_ready.connect(self._on_captions)
        s.failed.connect(self._on_open_error)
        state.samples.connect(self._on_samples)
        state.image_clicked.connect(self._on_image_clicked)
        state.endpoint_offered.connect(self._on_endpoint_offered)
        state.gallery_selection_changed.connect(self._on_gallery_selection)
        state.run_opened.connect(self._on_run_opened)
        self._set_enabled(False)

    # --- end points from thumbnails elsewhere ----------------------------------------------------
    def wait_for_click(self, name: str) -> None:
        self.waiting_for_click = name
        self.say(f"Click an image in the Dataset or Gallery panel for end point {name}.")

    def _on_image_clicked(self, pick: dict) -> None:
        name, self.waiting_for_click = self.waiting_for_click, None
        if name is not None:
            self._on_endpoint_offered(name, pick)

    def _on_endpoint_offered(self, name: str, pick: dict) -> None:
        if self.model_info is None or not self.model_info.get("support"):
            self.say("Open a run with a latent space first (Current run or Open run…).")
            return
        self.endpoints[name].set_pick(pick)
        self.say(f"End point {name}: {pick['source']}.")

    def _on_gallery_selection(self, picks: list) -> None:
        self.gallery_selection = list(picks)

    def _on_run_opened(self, history) -> None:
        """A past run reopened: its newest samples are what the Gallery shows."""
        if getattr(history, "samples", None) is not None:
            self.gallery_images = history.samples

    # --- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.support_label = QLabel("")
        self.support_label.setWordWrap(True)
        self.support_label.setStyleSheet("color: #888;")

        self.controls = QWidget()
        form = QFormLayout(self.controls)
        form.setContentsMargins(0, 0, 0, 0)
        self.endpoints: dict[str, EndpointEditor] = {}
        for name in ENDPOINTS:
            editor = EndpointEditor(name, optional=name in ("C", "D"), panel=self)
            editor.changed.connect(self._on_endpoint_changed)
            self.endpoints[name] = editor
            form.addRow(name, editor)
        self._form = form
        self.mode_box = QComboBox()
        for m in MODES:
            self.mode_box.addItem(m)
        self.mode_box.setToolTip("slerp follows the sphere Gaussian latents live on; lerp is a straight line")
        self.mode_box.currentIndexChanged.connect(lambda _: self._request_frame())
        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(2, 64)
        self.frames_spin.setValue(10)
        self.frames_spin.setToolTip("Frames in a strip or walk; rows and columns of a grid")
        row = QHBoxLayout()
        row.addWidget(self.mode_box)
        row.addWidget(QLabel("frames"))
        row.addWidget(self.frames_spin)
        form.addRow("Mode", row)
        self._options_loading = False
        self._options_timer = QTimer(self)
        self._options_timer.setSingleShot(True)
        self._options_timer.setInterval(150)
        self._options_timer.timeout.connect(self._apply_options)
        self.options = SamplingOptionsForm(lambda: self._options_timer.start())
        self.options.setToolTip("Sampling options that shape the latents (as `genstudio interpolate --set`)")
        form.addRow("Options", self.options)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 1000)
        self.slider.setToolTip("Drag from A (left) to B (right); the image renders in the background")
        self.slider.valueChanged.connect(lambda _: self._throttle.start())
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(30)
        self._throttle.timeout.connect(self._request_frame)
        self.live = QLabel()
        self.live.setFixedSize(96, 96)
        self.live.setScaledContents(True)
        self.live.setStyleSheet("background:#202020; border:1px solid #444;")
        slide = QHBoxLayout()
        slide.addWidget(self.slider, 1)
        slide.addWidget(self.live)
        form.addRow("A → B", slide)

        buttons = FlowLayout()  # wraps in a narrow dock
        self.strip_button = QPushButton("Strip")
        self.strip_button.setToolTip("Frames from A to B")
        self.strip_button.clicked.connect(self.render_strip)
        self.grid_button = QPushButton("Grid A–D")
        self.grid_button.setToolTip("A grid between the four corners A (top left), B, C, D (bottom right)")
        self.grid_button.clicked.connect(self.render_grid)
        self.walk_button = QPushButton("Random walk")
        self.walk_button.setToolTip("A walk through the latent space starting at A")
        self.walk_button.clicked.connect(self.render_walk)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the frames as a PNG strip, a GIF, an MP4 or a folder of PNGs")
        self.export_button.clicked.connect(self._choose_export)
        self.stop_button.setToolTip("Stop the frames, the end point or the strip being made (what is shown stays)")
        for b in (self.strip_button, self.grid_button, self.walk_button, self.stop_button, self.export_button):
            buttons.addWidget(b)
        self.view = GridView()
        self.view.placeholder = "Set end points A and B (a seed or an image) to see the path between them"
        self.view.setMinimumHeight(220)  # a grid between four corners needs room to be read
        self.progress_bar = self.progress      # ExplorerPanel's

        layout = QVBoxLayout(self)
        layout.addWidget(self.chooser)
        layout.addWidget(self.support_label)
        box = QGroupBox("End points")
        QVBoxLayout(box).addWidget(self.controls)
        layout.addWidget(box)
        layout.addLayout(buttons)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.controls, self.strip_button, self.grid_button, self.walk_button):
            w.setEnabled(on)
        self.export_button.setEnabled(self.result is not None)

    # --- opening runs ---------------------------------------------------------------------------
    @property
    def model_info(self) -> dict | None:
        return self.info

    def on_loaded(self, info: dict) -> None:
        support = info["support"]
        if support is None:
            why = (info.get("why_not") or {}).get("latent") or f"{info['family']} has no latent space"
            self.support_label.setText(f"{why}, so there is nothing to interpolate in.")
            self._set_enabled(False)
            return
        self.support_label.setText(f"Real images are placed in its latent space by {support}.")
        self._set_enabled(True)
        self._options_loading = True  # the fields' first values are the model's own: nothing to apply
        self.options.set_fields(info.get("sampling") or [])
        self._options_loading = False
        self._options_timer.stop()
        self._form.setRowVisible(self.options, bool(self.options.fields))
        classes = list(info["classes"]) if info["conditional"] else []
        for i, (name, editor) in enumerate(self.endpoints.items()):
            # A, B, C, D start on different classes so the class morph shows at once; a model that
            # cannot mix classes uses A's class throughout, so only A offers one
            offered = classes if info.get("class_mixing") or name == "A" else []
            editor.set_classes(offered, default=i % max(1, len(classes)))
        for name, editor in self.endpoints.items():  # re-place the end points in the new model
            if editor.spec is not None:
                self._on_endpoint_changed(name, editor.spec)
        if not self.endpoints["A"].edit.text().strip():
            self.endpoints["A"].set_seed(1)
        if not self.endpoints["B"].edit.text().strip():
            self.endpoints["B"].set_seed(2)
        self.say("")

    def _apply_options(self) -> None:
        """Send valid sampling options to the model, then place the end points again under them."""
        if self._options_loading or self.model_info is None or not self.options.fields:
            return
        if self.options.error:
            self.say(self.options.error)
            return
        self.service.set_options(self.options.values())
        for name, editor in self.endpoints.items():
            if editor.spec is not None:
                self._on_endpoint_changed(name, editor.spec)

    # --- end points and rendering ---------------------------------------------------------------
    def _on_endpoint_changed(self, name: str, spec) -> None:
        info = self.model_info
        if info is None or info["support"] is None:
            return
        if spec[0] == "image":
            spec = ("image", fit_to_model(spec[1], info["size"], info["channels"]))
            if "projection" in info["support"]:
                self.say(f"Projecting the image for {name} into the model's latent space…")
        self.service.set_endpoint(name, spec, self.endpoints[name].label())

    def _on_endpoint(self, name: str, image) -> None:
        self.endpoints[name].show_preview(image)
        if name in ("A", "B"):
            self._request_frame()

    def _request_frame(self) -> None:
        if self.model_info is None or self.model_info["support"] is None:
            return
        self.service.render_frame(self.slider.value() / 1000.0, self.mode_box.currentText())

    def _on_frame(self, t: float, image: np.ndarray) -> None:
        self.last_frame = (t, image)
        self.live.setPixmap(to_pixmap(image))

    def render_strip(self) -> None:
        self.service.render_strip(self.frames_spin.value(), self.mode_box.currentText())

    def render_grid(self) -> None:
        self.service.render_grid(max(2, min(self.frames_spin.value(), 16)), self.mode_box.currentText())

    def render_walk(self) -> None:
        self.service.render_walk(self.frames_spin.value(), 0.25, seed=int(self.slider.value()))

    def _on_captions(self, kind: str, captions) -> None:
        self._captions[kind] = captions  # arrives just before the frames it describes

    def _on_frames(self, kind: str, frames: np.ndarray) -> None:
        self.result, self.result_kind = frames, kind
        self.result_captions = self._captions.pop(kind, None)
        self.result_columns = int(round(len(frames) ** 0.5)) if kind == "grid" else len(frames)
        grid = make_grid(frames, columns=self.result_columns)
        self.view.set_grid(grid, len(frames), frames.shape[1])
        self.reveal(self.view)
        self.export_button.setEnabled(True)
        self.progress_bar.hide()
        self.say(f"{count(len(frames), 'frame')} ({kind}).")

    def _on_samples(self, event) -> None:
        self.gallery_images = event.images

    def on_open_failed(self) -> None:
        self._set_enabled(False)

    def _on_open_error(self, kind: str, message: str, details: str) -> None:
        if kind == "open":
            self.state.message.emit("error", f"Cannot explore this run: {message}", details)

    # --- export ---------------------------------------------------------------------------------
    def _choose_export(self) -> None:
        if self.result is None:
            return
        chosen = ask_export(self, "Export frames", f"{self.result_kind}.gif",
                            "Animated GIF (*.gif);;MP4 video (*.mp4);;PNG strip or grid (*.png)", self.export_options,
                            captions="class mix under each frame" if self.result_captions else None,
                            frame_size=self.result.shape[1:3])
        if chosen is not None:
            self.export_options = chosen[1]
            self.export_to(chosen[0])

    def export_to(self, path: str | Path, options: ExportOptions | None = None, **changes) -> Path | None:
        """Write the current frames with `options` (default: the last ones chosen), fields replaced by
        `changes` (e.g. scale=1); asks before replacing a file. Returns the path, or None."""
        if self.result is None:
            self.say("Nothing to export yet: make a strip, grid or walk first.")
            return None
        options = with_changes(options or self.export_options, **changes)
        path = Path(path)
        columns = self.result_columns if path.suffix.lower() == ".png" else None
        out, message = export_checked(self.result, path, self.confirm_overwrite, columns=columns,
                                      **options.frame_options(self.result_captions))
        self.say(message)
        failed = out is None and message.startswith("Export failed")
        # an export that worked takes an earlier failure off the banner (empty text: only that)
        self.state.notice.emit("error" if failed else "", message if failed else "", "", "export:latent")
        return out

