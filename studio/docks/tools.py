"""Tools panel: put a trained run to work on images: anomaly scores (ranked, with a histogram against
the held-out split and a threshold), inpainting (with a mask editor), denoising, super-resolution
(bicubic beside it) and synthetic datasets. The method each tool uses on this family is named; the
work runs on a background thread with progress and Stop."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QSpinBox,
                               QStackedWidget, QVBoxLayout, QWidget)

from engines.imaging import make_grid
from engines.tools.common import IMAGE_SUFFIXES, list_image_files, output_paths, write_png
from engines.config import ConfigError, to_dict
from engines.tools.options import OPTIONS
from engines.tools.session import TITLES, method_name, read_for
# the tools' modules (which methods a family offers) at start-up, not when the first checkpoint of a run
# opens here while it trains: importing them then held the GUI thread for tens of milliseconds
from engines.tools import denoise, inpaint, score, synthesize, upscale  # noqa: F401

from .. import dialogs
from ..dialogs import ask_overwrite
from ..forms import ConfigForm
from ..images import to_pixmap
from ..mask_editor import BRUSH, RECT, MaskEditor
from ..tool_service import ToolService
from .base import RIGHT
from .explorer import ExplorerPanel
from ..flow import FlowLayout
from ..widgets.grid import GridView

TOOLS = ("score", "inpaint", "denoise", "upscale", "synthesize")


class Histogram(QWidget):
    """Bars of the scored images (orange) over the held-out reference (grey), and the threshold."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: dict | None = None
        self.threshold: float | None = None
        self.setMinimumHeight(90)

    def set_data(self, histogram: dict | None, threshold: float | None) -> None:
        self.data, self.threshold = histogram, threshold
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        r = self.rect().adjusted(4, 4, -4, -16)
        if not self.data or not self.data.get("counts"):
            p.setPen(QColor("#7b8794"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The histogram appears after scoring")
            return
        edges = self.data["edges"]
        counts = np.asarray(self.data["counts"], float)
        ref = np.asarray(self.data.get("reference_counts") or np.zeros_like(counts), float)
        # each set as a share of itself, so a small folder is comparable with the held-out split
        a = counts / max(counts.sum(), 1)
        b = ref / max(ref.sum(), 1)
        top = max(a.max(), b.max(), 1e-9)
        w = r.width() / len(counts)
        for i in range(len(counts)):
            for share, colour, inset in ((b[i], QColor(150, 150, 150, 160), 0), (a[i], QColor(245, 166, 35, 200), w * 0.25)):
                h = int(r.height() * share / top)
                p.fillRect(int(r.x() + i * w + inset), r.bottom() - h, max(1, int(w - 2 * inset)), h, colour)
        lo, hi = edges[0], edges[-1]
        if self.threshold is not None and hi > lo:
            x = r.x() + (self.threshold - lo) / (hi - lo) * r.width()
            p.setPen(QPen(QColor("#c9302c"), 2, Qt.PenStyle.DashLine))
            p.drawLine(int(x), r.top(), int(x), r.bottom())
        p.setPen(QColor("#aaa"))
        p.drawText(r.x(), self.height() - 2, f"{lo:.3g}")
        p.drawText(r.right() - 40, self.height() - 2, f"{hi:.3g}")


def _heading(text: str) -> QLabel:
    label = QLabel(f"<b>{text}</b>")
    label.setObjectName(f"heading_{text.lower()}")
    return label


class ToolsPanel(ExplorerPanel):
    panel_id = "tools"
    title = "Tools"
    area = RIGHT
    tab_with = "losses"
    service_class = ToolService
    job_kinds = ("tool",)

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.engine_class: type | None = None
        self.sources: list[str] = []          # files and folders the person added
        self.result: dict | None = None
        self.confirm_overwrite: Callable[[Path], bool] = lambda path: ask_overwrite(self, path)
        self.setAcceptDrops(True)

        self.tool_box = QComboBox()
        for t in TOOLS:
            self.tool_box.addItem(TITLES[t], t)
        self.tool_box.currentIndexChanged.connect(self._tool_changed)
        self.method = QLabel("Open a run to see the method each tool uses.")
        self.method.setWordWrap(True)
        self.method.setObjectName("tool_method")

        # inputs
        self.add_files = QPushButton("Add images…")
        self.add_files.clicked.connect(self._pick_files)
        self.add_folder = QPushButton("Add folder…")
        self.add_folder.clicked.connect(self._pick_folder)
        self.clear_inputs = QPushButton("Clear")
        self.clear_inputs.clicked.connect(lambda: self.set_sources([]))
        self.inputs_label = QLabel("No images yet: add or drop files or folders.")
        self.inputs_label.setWordWrap(True)
        in_row = FlowLayout()   # rows wrap in a narrow dock (the third button was cut off)
        for b in (self.add_files, self.add_folder, self.clear_inputs):
            in_row.addWidget(b)

        # per-tool settings
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.pages = QStackedWidget()
        # each tool's options: one form made from its typed options (engines/tools/options.py), as the CLI's flags are
        self.forms = {tool: ConfigForm(OPTIONS[tool]) for tool in TOOLS}
        self.fpr, self.complexity = self.forms["score"].editor("fpr"), self.forms["score"].editor("complexity")
        self.candidates = self.forms["inpaint"].editor("candidates")
        self.sigma = self.forms["denoise"].editor("sigma")
        self.n_per_class = self.forms["synthesize"].editor("n_per_class")
        self.min_conf = self.forms["synthesize"].editor("min_confidence")
        score_page = self.forms["score"]
        self.mask_editor = MaskEditor(16)
        self.brush_size = QSpinBox()
        self.brush_size.setRange(1, 64)
        self.brush_size.setValue(self.mask_editor.brush)
        self.brush_size.valueChanged.connect(lambda v: setattr(self.mask_editor, "brush", int(v)))
        self.mode_box = QComboBox()
        self.mode_box.addItem("brush", BRUSH)
        self.mode_box.addItem("rectangle", RECT)
        self.mode_box.currentIndexChanged.connect(lambda _i: setattr(self.mask_editor, "mode", self.mode_box.currentData()))
        self.invert_button = QPushButton("Invert")
        self.invert_button.clicked.connect(self.mask_editor.invert)
        self.clear_mask_button = QPushButton("Clear mask")
        self.clear_mask_button.clicked.connect(self.mask_editor.clear)
        self.load_mask_button = QPushButton("Load mask…")
        self.load_mask_button.clicked.connect(self._pick_mask)
        self.image_index = QSpinBox()
        self.image_index.setRange(1, 1)
        self.image_index.setToolTip("Which input to draw the mask on (one mask is used for every input)")
        self.image_index.valueChanged.connect(lambda _v: self._show_mask_image())
        mask_row = FlowLayout()
        for w in (self.mode_box, QLabel("size"), self.brush_size, self.invert_button, self.clear_mask_button,
                  self.load_mask_button):
            mask_row.addWidget(w)
        inpaint_page = QWidget()
        iv = QVBoxLayout(inpaint_page)
        iv.setContentsMargins(0, 0, 0, 0)
        iv.addWidget(self.forms["inpaint"])
        iv.addLayout(self._form_layout(("Draw on input", self.image_index)))
        iv.addLayout(mask_row)
        iv.addWidget(self.mask_editor, 1)
        if isinstance(self.sigma, QDoubleSpinBox):
            self.sigma.setSpecialValueText("estimate")
        denoise_page = self.forms["denoise"]
        upscale_page = QWidget()
        uv = QVBoxLayout(upscale_page)
        uv.setContentsMargins(0, 0, 0, 0)
        upscale_note = QLabel("Inputs smaller than the run's size are enlarged to it; bicubic is shown beside each result.")
        upscale_note.setWordWrap(True)   # unwrapped, it made the whole panel scroll sideways
        uv.addWidget(upscale_note)
        uv.addWidget(self.forms["upscale"])
        self.out_folder = QLineEdit()
        self.out_folder.setPlaceholderText("folder for the dataset")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._pick_out_folder)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_folder, 1)
        out_row.addWidget(browse)
        out_widget = QWidget()
        out_widget.setLayout(out_row)
        out_row.setContentsMargins(0, 0, 0, 0)
        synth_page = QWidget()
        sv = QVBoxLayout(synth_page)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(self.forms["synthesize"])
        sv.addLayout(self._form_layout(("Write to", out_widget)))
        for page in (score_page, inpaint_page, denoise_page, upscale_page, synth_page):
            self.pages.addWidget(page)

        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.run_tool)
        self.export_button = QPushButton("Export…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._pick_export)
        buttons = FlowLayout()
        for b in (self.run_button, self.stop_button, self.export_button):
            buttons.addWidget(b)

        # results: a grid (image tools) or the ranked list and histogram (scores)
        self.results = QStackedWidget()
        self.grid = GridView()
        self.grid.placeholder = "Results of the tool appear here"
        self.ranked = QListWidget()
        self.ranked.setIconSize(QSize(48, 48))
        self.histogram = Histogram()
        score_view = QWidget()
        sv = QVBoxLayout(score_view)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(self.ranked, 3)
        sv.addWidget(self.histogram, 1)
        self.results.addWidget(self.grid)
        self.results.addWidget(score_view)

        top = QFormLayout()
        top.addRow("Tool", self.tool_box)
        # the run, the tool, its inputs, then Run with what it says, then the tool's settings and the results:
        # Run is in sight at 1280×720 (it was below the settings, under the fold)
        layout = QVBoxLayout(self)
        layout.addWidget(self.chooser)
        layout.addLayout(top)
        layout.addWidget(self.method)
        layout.addWidget(_heading("Inputs"))
        layout.addLayout(in_row)
        layout.addWidget(self.inputs_label)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(_heading("Settings"))
        layout.addLayout(self._form_layout(("Seed", self.seed)))
        layout.addWidget(self.pages)
        layout.addWidget(_heading("Results"))
        layout.addWidget(self.results, 1)

        s = self.service
        s.tool_done.connect(self._on_done)
        s.cancelled.connect(lambda kind: self.say("Stopped; nothing was written."))
        s.busy_changed.connect(self._on_busy)
        self._tool_changed()

    # --- small builders ----------------------------------------------------------------------------
    @staticmethod
    def _form_layout(*rows) -> QFormLayout:
        form = QFormLayout()
        for label, widget in rows:
            if label is None:
                form.addRow(widget)
            else:
                form.addRow(label, widget)
        return form

    def _form(self, *rows) -> QWidget:
        w = QWidget()
        form = self._form_layout(*rows)
        form.setContentsMargins(0, 0, 0, 0)
        w.setLayout(form)
        return w

    @property
    def tool(self) -> str:
        return self.tool_box.currentData()

    # --- run and inputs ------------------------------------------------------------------------------
    def open_checkpoint(self, run_dir, checkpoint) -> None:
        self._run_dir = str(run_dir)
        super().open_checkpoint(run_dir, checkpoint)

    def on_loaded(self, info: dict) -> None:
        self.engine_class = info["engine_class"]  # the family, named by the model's thread
        self.mask_editor.set_size(info["size"])
        self.brush_size.setValue(self.mask_editor.brush)
        self._tool_changed()
        self._show_mask_image()
        self.say("")

    def set_sources(self, sources: list[str]) -> None:
        self.sources = [str(s) for s in sources]
        try:
            files, skipped = list_image_files(self.sources) if self.sources else ([], [])
        except Exception as exc:  # noqa: BLE001 - a vanished folder: say so, keep the panel usable
            files, skipped = [], []
            self.say(str(exc))
        self._files = [str(f) for f, _ in files]
        self.inputs_label.setText(f"{len(files)} images" + (f", {len(skipped)} other files ignored" if skipped else "")
                                  if self.sources else "No images yet: add or drop files or folders.")
        self.image_index.setRange(1, max(1, len(files)))
        self._show_mask_image()
        self._update_enabled()

    def add_sources(self, sources) -> None:
        self.set_sources(self.sources + [str(s) for s in sources if str(s) not in self.sources])

    _files: list[str] = []
    _run_dir: str | None = None

    def _pick_files(self) -> None:
        pattern = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ")"
        files = dialogs.open_files(self, "Add images", "images", pattern)
        if files:
            self.add_sources(files)

    def _pick_folder(self) -> None:
        folder = dialogs.open_folder(self, "Add a folder of images", "images")
        if folder:
            self.add_sources([folder])

    def _pick_mask(self) -> None:
        path = dialogs.open_file(self, "Load a mask (white = fill)", "mask", "Images (*.png *.jpg *.bmp)")
        if path:
            try:
                self.mask_editor.load(path)
            except Exception as exc:  # noqa: BLE001 - ToolError: unreadable mask
                self.say(str(exc))

    def _pick_out_folder(self) -> None:
        folder = dialogs.open_folder(self, "Folder for the synthetic dataset", "export")
        if folder:
            self.out_folder.setText(folder)

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.add_sources(paths)
            event.acceptProposedAction()

    def _show_mask_image(self) -> None:
        if self.info is None or not self._files:
            self.mask_editor.set_image(None)
            return
        i = min(self.image_index.value(), len(self._files)) - 1
        try:
            inputs = read_for(_Spec(self.info), {"data": {}}, [self._files[i]], "inpaint")
        except Exception:  # noqa: BLE001 - an unreadable file: draw on the grey canvas
            inputs = None
        self.mask_editor.set_image(inputs.images[0] if inputs is not None and len(inputs) else None)

    # --- tool choice --------------------------------------------------------------------------------------
    def _tool_changed(self, *_args) -> None:
        self.pages.setCurrentIndex(TOOLS.index(self.tool))
        if self.engine_class is not None:
            self.method.setText(f"Method: {method_name(self.engine_class, self.tool)}")
        self._update_enabled()

    def _update_enabled(self) -> None:
        from engines.tools.session import can

        ok = self.engine_class is not None and can(self.engine_class, self.tool)
        needs_images = self.tool != "synthesize"
        reason = ""
        if self.engine_class is None:
            reason = "Open a run first"
        elif not ok:
            reason = method_name(self.engine_class, self.tool)
        elif needs_images and not self._files:
            reason = "Add images first"
        self.run_button.setEnabled(not reason)
        self.run_button.setToolTip(reason or f"Run {TITLES[self.tool].lower()} on the inputs")

    # --- running -----------------------------------------------------------------------------------------------
    def params(self) -> dict:
        t = self.tool
        p: dict = {"seed": self.seed.value(), **to_dict(self.forms[t].config())}
        if t == "synthesize":
            p.update(out=self.out_folder.text().strip())
        return p

    def run_tool(self) -> None:
        if self.info is None:
            self.say("Open a run first.")
            return
        try:
            params = self.params()
        except ConfigError as exc:
            self.say(f"{exc}.")
            return
        if self.tool == "synthesize":
            out = params.get("out")
            if not out:
                self.say("Choose a folder for the synthetic dataset first.")
                return
            try:   # someone's own images (no manifest) are never written into
                synthesize.check_dataset_folder(Path(out).expanduser())
            except ValueError as exc:
                self.say(f"Nothing written: {exc}.")
                return
            manifest = Path(out).expanduser() / "manifest.json"
            if manifest.exists():
                if not self.confirm_overwrite(manifest):
                    self.say("Nothing written: the folder already holds a dataset.")
                    return
                params["force"] = True
        mask = self.mask_editor.mask if self.tool == "inpaint" else None
        if self.tool == "inpaint" and not mask.any():
            self.say("Paint the region to fill on the mask first (or load a mask).")
            return
        self.say(f"{TITLES[self.tool]}…")
        self.service.run_tool(self.tool, list(self.sources), params, mask, self._run_dir)

    def _on_busy(self, busy: bool) -> None:   # progress and Stop: ExplorerPanel
        self.run_button.setEnabled(not busy)
        if not busy:
            self._update_enabled()

    def _on_done(self, result: dict) -> None:
        self.result = result
        self.export_button.setEnabled(result["tool"] != "synthesize")
        skipped = result.get("skipped") or []
        note = f" Skipped {len(skipped)}: " + "; ".join(f"{Path(p).name} ({r})" for p, r in skipped[:3]) if skipped else ""
        if result["tool"] == "score":
            self._show_scores(result)
        else:
            self._show_images(result)
        self.say(self._checked(result) + self._summary(result) + note)

    @staticmethod
    def _checked(r: dict) -> str:
        """The held-out self-check first: a model that loses to its baseline is said to before its results."""
        check = r.get("self_check")
        if not check:
            return ""
        verdict = check["verdict"]
        hint = check.get("suggestion") or ""
        hint = f"Suggestion: {hint}. " if hint else ""
        return (("⚠ " + verdict[0].upper() + verdict[1:] + ". ") if check.get("loses") else
                (verdict[0].upper() + verdict[1:] + ". ")) + hint

    def _summary(self, r: dict) -> str:
        t = r["tool"]
        if t == "score":
            ref = r.get("reference")
            if ref is None:
                note = str(r.get("reference_note") or "").strip().rstrip(".")
                return (f"{len(r['scores'])} images scored by {r['method']}."
                        + (f" {note[0].upper()}{note[1:]}." if note else ""))
            flagged = int((r["scores"] > ref.threshold).sum())
            caution = getattr(ref, "caution", "")
            return (f"{len(r['scores'])} images scored by {r['method']}; {flagged} above the threshold "
                    f"{ref.threshold:.4g} ({ref.fpr:.0%} of {ref.description} would be flagged)."
                    + (f" Note: {caution}." if caution else ""))
        if t == "denoise":
            s = r["sigmas"]
            how = "estimated" if r["estimated"] else "given"
            return f"{len(s)} images denoised by {r['method']}; noise σ ({how}) {np.median(s):.1f} on the 0-255 scale."
        if t == "synthesize":
            cas = (r.get("scores") or {}).get("cas")
            extra = f" Classification accuracy score {cas:.3f}." if cas is not None else ""
            return f"{len(r['images'])} images and a manifest written ({r['manifest']}).{extra}"
        return f"{len(r['images'])} images by {r['method']}."

    def _show_images(self, r: dict) -> None:
        images = r["images"]                     # (N, K, H, W, C)
        rows = []
        for i in range(len(images)):
            row = []
            if "inputs" in r and r["tool"] != "upscale":
                row.append(r["inputs"][i])
            if r.get("baseline") is not None:          # the baseline beside the result (bicubic, filter, fill)
                row.append(r["baseline"][i])
            row.extend(images[i])
            rows.append(row)
        columns = len(rows[0]) if rows else 1
        flat = np.stack([im for row in rows for im in row]) if rows else np.zeros((1, 2, 2, 1), np.uint8)
        if flat.shape[-1] == 1 and any(im.shape[-1] == 3 for im in flat):
            flat = np.repeat(flat, 3, axis=-1)
        self.grid.set_grid(make_grid(flat, columns=columns), len(flat), flat.shape[1])
        self.results.setCurrentIndex(0)

    def _show_scores(self, r: dict) -> None:
        self.ranked.clear()
        ref = r.get("reference")
        for rank, i in enumerate(r["order"], 1):
            flag = "  ⚑ unusual" if ref is not None and r["scores"][i] > ref.threshold else ""
            item = QListWidgetItem(f"{rank}. {r['scores'][i]:.4f}  {Path(r['paths'][i]).name}{flag}")
            item.setIcon(QIcon(to_pixmap(r["inputs"][i]).scaled(48, 48)))
            item.setToolTip(r["paths"][i])
            self.ranked.addItem(item)
        self.histogram.set_data(r["histogram"], None if ref is None else ref.threshold)
        self.results.setCurrentIndex(1)

    # --- export ------------------------------------------------------------------------------------------------------
    def _pick_export(self) -> None:
        if self.result is None:
            return
        if self.result["tool"] == "score":
            path = dialogs.save_file(self, "Export scores", "export", "scores.csv", "CSV (*.csv)")
        else:
            path = dialogs.open_folder(self, "Export results to a folder", "export")
        if path:
            self.export_to(path)

    def export_to(self, path) -> list[Path]:
        """Write the last result: a CSV of ranked scores, or one PNG per input (relative names kept,
        .c1... for more candidates, .bicubic beside super-resolution). Asks before replacing."""
        r = self.result
        if r is None:
            return []
        path = Path(path)
        if r["tool"] == "score":
            if path.exists() and not self.confirm_overwrite(path):
                self.say("Export cancelled; nothing was overwritten.")
                return []
            with path.open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["rank", "path", "score", "unusual"])
                ref = r.get("reference")
                for rank, i in enumerate(r["order"], 1):
                    w.writerow([rank, r["paths"][i], f"{r['scores'][i]:.6f}",
                                "" if ref is None else bool(r["scores"][i] > ref.threshold)])
            self.say(f"Exported {len(r['order'])} scores to {path}.")
            return [path]
        k = r["images"].shape[1]
        suffixes = [""] + [f".c{j}" for j in range(1, k)] + ([".bicubic"] if r["tool"] == "upscale" else [])
        targets = output_paths(path, r["names"], force=True, suffixes=suffixes)
        existing = [t for t in targets if t.exists()]
        if existing and not self.confirm_overwrite(existing[0]):
            self.say("Export cancelled; nothing was overwritten.")
            return []
        n = len(r["names"])
        for j, sfx in enumerate(suffixes):
            images = r["bicubic"] if sfx == ".bicubic" else r["images"][:, j]
            for i in range(n):
                write_png(images[i], targets[j * n + i])
        self.say(f"Exported {len(targets)} images to {path}.")
        return targets



class _Spec:
    """What read_for needs of an engine, from the loaded-run info (the GUI thread never touches the model)."""

    def __init__(self, info: dict):
        from engines.families.base import DataSpec

        self.data = DataSpec(int(info["size"]), int(info["channels"]))


__all__ = ["ToolsPanel", "Histogram"]
