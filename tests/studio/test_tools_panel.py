"""The Tools panel on a real tiny run: the mask editor (brush, rectangle, erase, invert, clear, load),
an inpainting run off the GUI thread that keeps the known pixels, exported results, and the ranked
anomaly view with its histogram."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from studio.mask_editor import RECT, MaskEditor
from tests.engines.tools_runs import blob_images, train, write_folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("toolspanel")
    images, labels = blob_images(24)
    data = write_folder(root / "data", images, labels)
    return {"run": train(root, "vae", data), "images": images, "root": root}


def test_mask_editor_brush_rectangle_erase_invert_clear_and_load(qtbot, tmp_path):
    ed = MaskEditor(16)
    qtbot.addWidget(ed)
    ed.resize(160, 160)
    ed.show()
    ed.brush = 1
    qtbot.mouseClick(ed, Qt.MouseButton.LeftButton, pos=ed.to_widget(3.5, 5.5))
    assert ed.mask[5, 3] and ed.mask.sum() == 1
    qtbot.mouseClick(ed, Qt.MouseButton.RightButton, pos=ed.to_widget(3.5, 5.5))
    assert not ed.mask.any()
    ed.mode = RECT
    with qtbot.waitSignal(ed.changed):
        qtbot.mousePress(ed, Qt.MouseButton.LeftButton, pos=ed.to_widget(2.5, 2.5))
        qtbot.mouseMove(ed, ed.to_widget(6.5, 4.5))
        qtbot.mouseRelease(ed, Qt.MouseButton.LeftButton, pos=ed.to_widget(6.5, 4.5))
    assert ed.mask.sum() == 5 * 3 and ed.mask[2:5, 2:7].all()
    ed.invert()
    assert ed.mask.sum() == 256 - 15
    ed.clear()
    assert not ed.mask.any()
    m = np.zeros((32, 32), np.uint8)
    m[16:] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    ed.load(tmp_path / "m.png")
    assert ed.mask[9:].all() and not ed.mask[:7].any()


def _open(qtbot, window, run):
    panel = window.panels["tools"]
    with qtbot.waitSignal(panel.service.loaded, timeout=60_000):
        panel.open_run(run)
    qtbot.waitUntil(lambda: panel.service.pending == 0, timeout=30_000)  # the open job has finished
    return panel


def test_tools_panel_is_in_the_view_menu(window):
    assert "tools" in window.docks
    assert window.docks["tools"].toggleViewAction() in window.view_menu.actions()


def test_every_panel_form_label_is_capitalised(window):
    """The Tools form read "tool" and "seed" beside "Learning rate" and the rest."""
    from PySide6.QtWidgets import QFormLayout, QLabel

    seen = []
    for panel in window.panels.values():
        for form in panel.findChildren(QFormLayout):
            for row in range(form.rowCount()):
                item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
                label = item.widget() if item is not None else None
                if isinstance(label, QLabel) and label.text()[:1].isalpha():
                    seen.append(label.text())
    assert {"Tool", "Seed"} <= set(seen)
    assert [t for t in seen if t[0].islower()] == []


def test_inpainting_from_the_panel_keeps_known_pixels_and_exports(qtbot, window, setup, tmp_path):
    panel = _open(qtbot, window, setup["run"])
    folder = write_folder(tmp_path / "in", setup["images"][:2])
    panel.add_sources([folder])
    assert "2 images" in panel.inputs_label.text()
    panel.tool_box.setCurrentIndex(panel.tool_box.findData("inpaint"))
    assert "latent optimisation" in panel.method.text()
    assert not panel.run_button.isEnabled() or not panel.mask_editor.mask.any()
    panel.run_tool()  # no mask yet: refused with a reason, nothing queued
    assert "mask" in panel.status.text() and panel.service.pending == 0
    panel.mask_editor.fill_rect(0, 0, 7, 15)
    from engines.config import field_infos
    from engines.tools.options import InpaintOptions
    assert panel.candidates.maximum() == next(i.max for i in field_infos(InpaintOptions) if i.name == "candidates")
    panel.candidates.setValue(2)
    with qtbot.waitSignal(panel.service.tool_done, timeout=120_000):
        panel.run_tool()
    r = panel.result
    assert r["images"].shape == (2, 2, 16, 16, 1)
    keep = ~panel.mask_editor.mask
    assert (r["images"][:, :, keep] == setup["images"][:2, None][:, :, keep]).all()
    assert "latent optimisation" in panel.status.text() and panel.export_button.isEnabled()
    # the held-out self-check is said first, and the mean fill is shown beside each result
    check = r["self_check"]
    assert check["tool"] == "inpaint" and check["baseline_name"] == "mean fill of the known pixels"
    assert panel.status.text().startswith(("⚠ " if check["loses"] else "") + check["verdict"][0].upper())
    assert ("Suggestion: " + check["suggestion"] in panel.status.text()) if check["suggestion"] else \
        "Suggestion" not in panel.status.text()   # what did better at small budgets, when anything did
    assert r["baseline"].shape == (2, 16, 16, 1) and (r["baseline"][:, keep] == setup["images"][:2][:, keep]).all()
    written = panel.export_to(tmp_path / "out")
    assert sorted(p.name for p in written) == ["000.c1.png", "000.png", "001.c1.png", "001.png"]
    panel.confirm_overwrite = lambda path: False
    assert panel.export_to(tmp_path / "out") == [] and "nothing was overwritten" in panel.status.text()


def test_anomaly_scores_ranked_with_histogram(qtbot, window, setup, tmp_path):
    panel = _open(qtbot, window, setup["run"])
    odd = 255 - setup["images"][:2]   # inverted blobs: unusual for this run
    write_folder(tmp_path / "q", np.concatenate([setup["images"][:2], odd]))
    panel.add_sources([tmp_path / "q"])
    panel.tool_box.setCurrentIndex(panel.tool_box.findData("score"))
    assert "ELBO" in panel.method.text()
    with qtbot.waitSignal(panel.service.tool_done, timeout=120_000):
        panel.run_tool()
    r = panel.result
    assert panel.ranked.count() == 4 and panel.results.currentIndex() == 1
    scores = [r["scores"][i] for i in r["order"]]
    assert scores == sorted(scores, reverse=True)
    assert sum(panel.histogram.data["reference_counts"]) == 6 and panel.histogram.threshold is not None
    out = panel.export_to(tmp_path / "scores.csv")
    assert out and out[0].read_text().startswith("rank,path,score,unusual")


def test_a_tool_run_can_be_stopped_and_then_rerun(qtbot, window, setup, tmp_path, monkeypatch):
    import studio.tool_service as service
    from engines.tools.upscale import shrink

    panel = _open(qtbot, window, setup["run"])
    write_folder(tmp_path / "small", shrink(setup["images"][:8], 8))
    panel.add_sources([tmp_path / "small"])
    panel.tool_box.setCurrentIndex(panel.tool_box.findData("upscale"))
    done = []
    panel.service.tool_done.connect(done.append)
    real = service.run_tool

    def until_stopped(*args, progress=None, **kwargs):  # a tool that is still running when Stop comes
        import threading
        pause = threading.Event()
        for i in range(100_000):
            args[-1](i % 100, 100)  # the service's progress: raises once Stop is pressed
            pause.wait(0.005)
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "run_tool", until_stopped)
    with qtbot.waitSignal(panel.service.cancelled, timeout=60_000):
        panel.run_tool()
        qtbot.waitUntil(lambda: panel.stop_button.isEnabled(), timeout=30_000)
        panel.stop_button.click()
    qtbot.waitUntil(lambda: panel.service.pending == 0, timeout=30_000)
    assert done == [] and "Stopped" in panel.status.text()
    monkeypatch.setattr(service, "run_tool", real)
    with qtbot.waitSignal(panel.service.tool_done, timeout=120_000):
        panel.run_tool()
    assert panel.result["images"].shape == (8, 1, 16, 16, 1) and panel.result["bicubic"].shape == (8, 16, 16, 1)


def test_run_and_every_input_button_are_in_sight_at_1280x720(qtbot, laptop_window):
    """The third input button was cut off, Run was below the fold, inputs and results had no labels."""
    from .helpers import in_sight
    window = laptop_window
    panel = window.panels["tools"]
    qtbot.waitUntil(lambda: in_sight(window, "tools", panel.run_button))
    for button in (panel.add_files, panel.add_folder, panel.clear_inputs, panel.stop_button, panel.export_button):
        assert in_sight(window, "tools", button), button.text()
    headings = {w.objectName() for w in panel.findChildren(type(panel.method))}
    assert {"heading_inputs", "heading_results"} <= headings


def test_opening_a_model_imports_nothing_on_the_gui_thread(qtbot, window, setup):
    """A run being trained opens here at its first checkpoint: what the panel then works out (which method
    each tool uses) must not import modules on the GUI thread (tens of milliseconds of stall mid-run)."""
    import sys
    import threading

    imported_here: list[str] = []

    class Watch:
        def find_spec(self, name, path=None, target=None):
            if threading.current_thread() is threading.main_thread():
                imported_here.append(name)
            return None   # the real finders import it

    watch = Watch()
    sys.meta_path.insert(0, watch)
    try:
        panel = _open(qtbot, window, setup["run"])
    finally:
        sys.meta_path.remove(watch)
    assert panel.info is not None and "Method:" in panel.method.text()
    assert not imported_here, imported_here
    # the tools' modules come with the panel (at start-up): in this test process an earlier import (the
    # fixture's) may have brought them already, so the guard above alone cannot tell
    import studio.docks.tools as panel_module
    assert all(hasattr(panel_module, name) for name in ("denoise", "inpaint", "score", "synthesize", "upscale"))
