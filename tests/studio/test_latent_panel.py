"""The Latent and Timeline panels on a real (tiny) trained run."""

import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QElapsedTimer, QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent

from engines.export import read_frames
from tests.helpers import train_tiny_run


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("latent"))


def open_in_panel(qtbot, window, run):
    panel = window.panels["latent"]
    with qtbot.waitSignal(panel.service.loaded, timeout=30_000):
        panel.open_run(run)
    qtbot.waitUntil(lambda: all(n in panel.service.latents for n in "AB"), timeout=30_000)
    return panel


def test_slider_renders_off_the_gui_thread_latest_request_wins(qtbot, window, trained_run):
    panel = open_in_panel(qtbot, window, trained_run)
    assert "projection" in panel.support_label.text()
    # a probe timer measures how late the event loop gets while the slider is dragged
    lateness, clock = [], QElapsedTimer()
    probe = QTimer()
    probe.setInterval(5)
    last = [0]

    def tick():
        now = clock.elapsed()
        lateness.append(now - last[0] - 5)
        last[0] = now
    probe.timeout.connect(tick)
    clock.start()
    probe.start()
    # listening from before the drag: the last frame may come while the drag is still being posted
    with qtbot.waitSignal(panel.service.frame_ready, timeout=30_000,
                          check_params_cb=lambda t, img: t == pytest.approx(1.0)):
        for v in range(0, 1001, 50):
            t0 = time.perf_counter()
            panel.slider.setValue(v)
            assert time.perf_counter() - t0 < 0.05  # posting a position never waits for the model
            qtbot.wait(1)
    probe.stop()
    assert max(lateness) < 250
    t, image = panel.last_frame
    assert image.shape == (16, 16, 1) and image.dtype == np.uint8


def test_strip_grid_walk_and_export(qtbot, window, trained_run, tmp_path):
    panel = open_in_panel(qtbot, window, trained_run)
    panel.frames_spin.setValue(5)
    with qtbot.waitSignal(panel.service.frames_ready, timeout=30_000):
        panel.render_strip()
    assert panel.result.shape == (5, 16, 16, 1)
    # the strip starts at A's own image and ends at B's
    with qtbot.waitSignal(panel.service.frames_ready, timeout=30_000):
        panel.render_walk()
    assert panel.result_kind == "walk" and len(panel.result) == 5
    with qtbot.waitSignal(panel.service.failed, timeout=30_000):
        panel.render_grid()  # C and D are not set yet: a message, not a crash
    assert "set end point C, D first" in panel.status.text()
    panel.endpoints["C"].set_seed(3)
    panel.endpoints["D"].set_seed(4)
    with qtbot.waitSignal(panel.service.frames_ready, timeout=30_000):
        panel.render_grid()
    assert panel.result.shape == (25, 16, 16, 1)

    gif = tmp_path / "grid.gif"
    assert panel.export_to(gif, scale=1) == gif
    assert read_frames(gif).shape[0] == 25
    panel.confirm_overwrite = lambda path: False
    before = gif.read_bytes()
    assert panel.export_to(gif) is None and gif.read_bytes() == before


def test_real_image_dropped_on_an_end_point(qtbot, window, trained_run, tmp_path):
    panel = open_in_panel(qtbot, window, trained_run)
    img = tmp_path / "mine.png"
    Image.new("RGB", (40, 30), (200, 50, 50)).save(img)
    editor = panel.endpoints["A"]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(img))])
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.service.endpoint_ready, timeout=60_000,
                          check_params_cb=lambda name, image: name == "A"):
        editor.dropEvent(drop)
    assert editor.edit.text() == str(img)
    (tmp_path / "bad.png").write_text("nope")
    editor.set_image_file(str(tmp_path / "bad.png"))
    assert "not a readable image" in panel.status.text()


def test_timeline_scrubs_and_exports(qtbot, window, trained_run, tmp_path):
    timeline = window.panels["timeline"]
    timeline.load_run(trained_run)
    assert timeline.steps == [0, 2, 4, 6]
    timeline.slider.setValue(1)
    assert "step 2" in timeline.step_label.text()
    out = timeline.export_to(tmp_path / "tl.mp4", scale=1)
    assert out is not None and read_frames(out).shape[0] == 4

    # a rollback to step 3 drops the grids training went back over; the next grid follows on
    from engines.train import events as ev
    window.state.train_warning.emit(ev.TrainWarning(3, "went back to step 3", "rollback"))
    assert timeline.steps == [0, 2]
    grid = timeline.grids[-1]
    window.state.samples.emit(ev.Samples(5, np.zeros((4, 16, 16, 1), np.uint8), grid))
    assert timeline.steps == [0, 2, 5] and "step 5" in timeline.step_label.text()


def test_a_folder_that_is_not_a_run_gives_a_message(qtbot, window, tmp_path):
    panel = window.panels["latent"]
    with qtbot.waitSignal(panel.service.failed, timeout=30_000):
        panel.open_run(tmp_path)
    assert "not a genstudio run folder" in panel.status.text()
    assert not panel.strip_button.isEnabled()


def test_stop_is_shown_and_stops_a_long_strip(qtbot, window, trained_run, monkeypatch):
    """Stop sits with the panel's buttons, enabled while the model works, and ends a long job early."""
    import threading

    import studio.model_service as model_service
    panel = open_in_panel(qtbot, window, trained_run)
    qtbot.waitUntil(lambda: panel.service.pending == 0, timeout=30_000)   # the end points are placed
    assert panel.stop_button.isVisibleTo(panel) and not panel.stop_button.isEnabled()

    def slow_decode(engine, latents, rows=None, chunk=32, progress=None):   # a strip still decoding
        pause = threading.Event()
        for i in range(100_000):
            progress(i % 100, 100)   # raises once Stop is pressed
            pause.wait(0.005)

    monkeypatch.setattr(model_service, "decode_batches", slow_decode)
    with qtbot.waitSignal(panel.service.cancelled, timeout=60_000):
        panel.render_strip()
        qtbot.waitUntil(panel.stop_button.isEnabled, timeout=30_000)
        panel.stop_button.click()
    qtbot.waitUntil(lambda: panel.service.pending == 0, timeout=30_000)
    assert "Stopped" in panel.status.text() and not panel.stop_button.isEnabled()
