"""The Style panel: real drops on its two targets, a real optimisation in its worker thread, the
live preview and loss plot, Stop keeping the current image, export, and refusals."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from engines.style import StyleOptions

from .test_dataset_panel import drop

pytestmark = pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")


@pytest.fixture
def images(tmp_path):
    yy, xx = np.mgrid[0:40, 0:60]
    content = np.zeros((40, 60, 3), np.uint8)
    content[((yy - 20) ** 2 + (xx - 30) ** 2) < 150] = 220
    style = np.zeros((32, 32, 3), np.uint8)
    style[..., 0] = ((np.mgrid[0:32, 0:32].sum(0) // 4) % 2) * 250
    style[..., 2] = 255 - style[..., 0]
    Image.fromarray(content).save(tmp_path / "content.png")
    Image.fromarray(style).save(tmp_path / "style.jpg")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return tmp_path


def _panel(window, **options):
    panel = window.panels["style"]
    panel.form.set_config(dataclasses.replace(StyleOptions(), size=16, preview_every=2, **options))
    return panel


def test_the_style_panel_is_a_dock_listed_in_the_view_menu(window):
    assert "style" in window.docks
    titles = [a.text() for a in window.view_menu.actions()]
    assert "Style" in titles


def test_drop_images_start_and_watch_the_preview_and_losses(qtbot, window, images):
    panel = _panel(window, steps=6)
    assert not panel.start_button.isEnabled()
    assert drop(panel.content_drop, [images / "content.png"])
    assert panel.content_drop.image.shape == (40, 60, 3)
    assert "content.png (60×40)" in panel.content_drop.caption.text()
    assert not panel.start_button.isEnabled()
    assert drop(panel.style_drop, [images / "style.jpg"])
    assert panel.style_drop.thumb.pixmap() is not None and panel.start_button.isEnabled()
    with qtbot.waitSignal(panel.finished, timeout=60_000) as got:
        assert panel.start()
    result = got.args[0]
    assert result.image.shape == (11, 16, 3) and result.steps_done == 6
    qtbot.waitUntil(lambda: panel.job is None, timeout=10_000)
    assert panel.view.image is not None and panel.view.image.width() == 16
    assert len(panel.steps) == 6 and panel.history["style"][-1] < panel.history["style"][0]
    xs, ys = panel.curves["style"].getData()
    assert len(xs) == 6
    assert panel.export_button.isEnabled() and panel.start_button.isEnabled()
    out = panel.export_to(images / "out.png")
    assert Image.open(out).size == (16, 11)
    panel.confirm_overwrite = lambda path: False
    before = out.read_bytes()
    assert panel.export_to(out) is None and out.read_bytes() == before
    assert "nothing was overwritten" in panel.status.text()


def test_stop_keeps_the_current_image(qtbot, window, images):
    panel = _panel(window, steps=5000)
    drop(panel.content_drop, [images / "content.png"])
    drop(panel.style_drop, [images / "style.jpg"])
    assert panel.start()
    assert not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    assert not panel.form.isEnabled()
    qtbot.waitUntil(lambda: len(panel.steps) >= 3, timeout=60_000)
    with qtbot.waitSignal(panel.finished, timeout=60_000) as got:
        panel.stop_button.click()
    assert got.args[0].stopped and 3 <= got.args[0].steps_done < 5000
    qtbot.waitUntil(lambda: panel.job is None, timeout=10_000)
    assert panel.result is not None and "stopped after" in panel.status.text()


def test_bad_drops_and_bad_features_are_messages_not_crashes(qtbot, window, images):
    panel = _panel(window, steps=2)
    drop(panel.content_drop, [images / "broken.png"])
    assert panel.content_drop.image is None and "cannot be used" in panel.status.text()
    drop(panel.style_drop, [images])
    assert "not a folder" in panel.status.text()
    drop(panel.content_drop, [images / "content.png"])
    drop(panel.style_drop, [images / "style.jpg"])
    (images / "junk.safetensors").write_bytes(b"junk")
    panel.set_features(str(images / "junk.safetensors"))
    with qtbot.waitSignal(panel.failed, timeout=60_000):
        assert panel.start()
    qtbot.waitUntil(lambda: panel.job is None, timeout=10_000)
    assert "not a readable safetensors file" in panel.status.text()
    assert panel.start_button.isEnabled()


def test_absurd_sizes_cannot_be_started(window, images):
    panel = window.panels["style"]
    drop(panel.content_drop, [images / "content.png"])
    drop(panel.style_drop, [images / "style.jpg"])
    assert panel.start_button.isEnabled()
    panel.form.editor("size").setValue(16)
    panel.form._editors["size"].widget.setMaximum(10**6)   # a typed value past the form's own range
    panel.form.editor("size").setValue(100000)
    assert not panel.start_button.isEnabled()
    assert "size" in panel.form.error_label.text()


def test_translate_with_a_trained_style_run_and_a_run_that_cannot(qtbot, window, images, tmp_path):
    from engines.cli import main as cli
    from engines.style.texture import texture

    content = tmp_path / "train"
    content.mkdir()
    for i in range(8):
        Image.fromarray(np.full((16, 16), 20 * i, np.uint8)).save(content / f"{i}.png")
    Image.fromarray(texture(32, 0)).save(tmp_path / "style_in.png")
    run = tmp_path / "style_run"
    assert cli(["train", "--family", "style", "--data", str(content), "--out", str(run), "--size", "16",
                "--steps", "2", "--batch-size", "4", "--set", "width=4", "--set", "res_blocks=1",
                "--input", f"style={tmp_path / 'style_in.png'}", "--quiet"]) == 0
    panel = _panel(window, steps=2)
    assert not panel.translate_button.isEnabled()
    drop(panel.content_drop, [images / "content.png"])
    assert panel.translate_button.isEnabled()
    with qtbot.waitSignal(panel.finished, timeout=60_000) as got:
        assert panel.translate_with(run)
    assert got.args[0].image.shape == (11, 16, 3)
    qtbot.waitUntil(lambda: panel.job is None, timeout=10_000)
    assert "one pass" in panel.status.text() and panel.export_button.isEnabled()

    gan = tmp_path / "gan_run"
    assert cli(["train", "--family", "dcgan", "--data", str(content), "--out", str(gan), "--size", "16",
                "--steps", "1", "--batch-size", "4", "--set", "latent_dim=8", "--set", "g_width=8",
                "--set", "d_width=8", "--set", "sample_every=0", "--quiet"]) == 0
    with qtbot.waitSignal(panel.failed, timeout=60_000) as got:
        assert panel.translate_with(gan)
    assert "train a style run" in got.args[0]


def test_start_and_stop_are_in_sight_at_1280x720_and_the_prompt_follows_the_images(qtbot, laptop_window, images):
    """Start/Stop were below the fold under a nested scroll area; the status still said "Drop a content
    image…" after both were chosen."""
    from .helpers import in_sight
    window = laptop_window
    panel = window.panels["style"]
    qtbot.waitUntil(lambda: in_sight(window, "style", panel.start_button))
    assert in_sight(window, "style", panel.stop_button) and in_sight(window, "style", panel.status)
    assert "Drop a content image" in panel.status.text()
    assert drop(panel.content_drop, [images / "content.png"])
    assert "other image" in panel.status.text()
    assert drop(panel.style_drop, [images / "style.jpg"])
    assert panel.status.text().startswith("Ready") and panel.start_button.isEnabled()
