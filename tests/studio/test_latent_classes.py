"""Class morphs in the Latent panel (a tiny cVAE), the shared export dialog, and labelled exports."""

import numpy as np
import pytest
from PIL import Image

from engines.export import ExportOptions, read_frames
from engines.latent import lerp
from engines.train.restore import load_engine
from studio.export_dialog import ExportDialog
from tests.studio.helpers import load_into


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    """(image folder with dark/light subfolders, a cVAE run trained on it for a few steps)."""
    from tests.helpers import train_tiny_conditional_run

    return train_tiny_conditional_run(tmp_path_factory.mktemp("classes"))


def _open(qtbot, panel, run):
    with qtbot.waitSignal(panel.service.loaded, timeout=30_000):
        panel.open_run(run)
    qtbot.waitUntil(lambda: set(panel.service.classes) >= {"A", "B"}, timeout=30_000)


def test_the_class_morphs_with_the_latent(qtbot, window, conditional, tmp_path):
    folder, run = conditional
    panel = window.panels["latent"]
    _open(qtbot, panel, run)
    a, b = panel.endpoints["A"], panel.endpoints["B"]
    assert a.class_box.isVisibleTo(panel) and [a.class_box.itemText(i) for i in range(2)] == ["dark", "light"]
    assert (a.label(), b.label()) == (0, 1)  # different classes at the two ends by default
    panel.frames_spin.setValue(5)
    panel.mode_box.setCurrentText("lerp")
    with qtbot.waitSignal(panel.service.frames_ready, timeout=30_000):
        panel.render_strip()
    assert panel.result_captions == ["dark", "dark 75% light 25%", "dark 50% light 50%",
                                     "light 75% dark 25%", "light"]
    engine, _ = load_engine(run)
    za, zb = engine.random_latents(1, 1), engine.random_latents(1, 2)
    np.testing.assert_array_equal(panel.result[0], engine.decode(za, labels=np.array([0]))[0])
    np.testing.assert_array_equal(panel.result[-1], engine.decode(zb, labels=np.array([1]))[0])
    # the slider mixes the classes at the same t as the latents
    with qtbot.waitSignal(panel.service.frame_ready, timeout=30_000, check_params_cb=lambda t, img: t == 0.5):
        panel.slider.setValue(500)
    halfway = engine.decode(lerp(za, zb, 0.5), labels=np.array([[0.5, 0.5]], np.float32))[0]
    np.testing.assert_array_equal(panel.last_frame[1], halfway)

    # labelled PNG strip: a caption band under each frame; a GIF that plays once
    strip = panel.export_to(tmp_path / "strip.png", ExportOptions(scale=2, labels=True))
    assert read_frames(strip).shape == (1, 32 + 12 + 4, 5 * 32 + 6 * 2, 3)
    gif = panel.export_to(tmp_path / "once.gif", ExportOptions(scale=1, loop=1, fps=4))
    with Image.open(gif) as im:
        assert "loop" not in im.info and im.info["duration"] == 250 and im.n_frames == 5

    # picking B's class re-places it: one class throughout
    with qtbot.waitSignal(panel.service.endpoint_ready, timeout=30_000,
                          check_params_cb=lambda name, image: name == "B"):
        b.class_box.setCurrentIndex(0)
    with qtbot.waitSignal(panel.service.frames_ready, timeout=30_000):
        panel.render_strip()
    assert panel.result_captions == ["dark"] * 5

    # a dataset image brings its own class
    load_into(qtbot, window, folder)
    data = window.state.dataset
    for _ in range(6):
        with qtbot.waitSignal(panel.service.endpoint_ready, timeout=30_000,
                              check_params_cb=lambda name, image: name == "B"):
            b.from_dataset()
        i = int(b.edit.text().split()[-1])
        assert b.class_box.currentText() == data.class_names[int(data.labels[i])]


def test_unconditional_runs_offer_no_classes_or_captions(qtbot, window, tmp_path):
    from tests.helpers import train_tiny_run

    panel = window.panels["latent"]
    run = train_tiny_run(tmp_path, steps=2)
    with qtbot.waitSignal(panel.service.loaded, timeout=30_000):
        panel.open_run(run)
    qtbot.waitUntil(lambda: {"A", "B"} <= set(panel.service.latents), timeout=30_000)
    assert not panel.endpoints["A"].class_box.isVisibleTo(panel)
    with qtbot.waitSignal(panel.service.frames_ready, timeout=30_000):
        panel.render_strip()
    assert panel.result_captions is None
    out = panel.export_to(tmp_path / "s.png", scale=1, labels=True)  # nothing to caption: plain strip
    assert read_frames(out).shape == (1, 16, 10 * 16, 1)


def test_export_dialog_fills_in_export_options(qtbot, tmp_path):
    dialog = ExportDialog(None, "Export", tmp_path / "a.mp4", "GIF (*.gif)", ExportOptions(scale=3, fps=8),
                          captions="step under each frame", frame_size=(16, 20))
    qtbot.addWidget(dialog)
    assert dialog.fps.isEnabled() and not dialog.loop.isEnabled()  # MP4: frame rate, no loop count
    assert dialog.size_note.text() == "60 × 48 px"
    dialog.path_edit.setText(str(tmp_path / "a.gif"))
    assert dialog.loop.isEnabled() and dialog.loop.text() == "forever"
    dialog.loop.setValue(1)
    dialog.scale.setValue(2)
    dialog.resample.setCurrentIndex(dialog.resample.findData("bilinear"))
    dialog.labels.setChecked(True)
    assert dialog.options() == ExportOptions(scale=2, resample="bilinear", fps=8.0, loop=1, labels=True)
    assert dialog.path() == tmp_path / "a.gif"
    dialog.path_edit.setText(str(tmp_path / "a.png"))
    assert not dialog.fps.isEnabled() and not dialog.loop.isEnabled()
    dialog.path_edit.setText("")
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Save).isEnabled()
    plain = ExportDialog(None, "Export", "x.gif", "", ExportOptions(labels=True))
    qtbot.addWidget(plain)
    assert not plain.options().labels  # no captions to offer: never asks for labels


def test_timeline_exports_with_step_captions(qtbot, window, tmp_path, monkeypatch):
    from studio.docks import timeline as timeline_module
    from tests.helpers import train_tiny_run

    timeline = window.panels["timeline"]
    timeline.load_run(train_tiny_run(tmp_path, steps=4))
    # the Export button: the dialog's choices are used and remembered for next time
    asked = []
    chosen = ExportOptions(scale=3, fps=2.0, loop=2)

    def fake_dialog(parent, title, default_path, filters, options, captions=None, frame_size=None):
        asked.append((options, captions))
        return tmp_path / "chosen.gif", chosen
    monkeypatch.setattr(timeline_module, "ask_export", fake_dialog)
    timeline.export_button.click()
    assert asked == [(ExportOptions(scale=2, fps=6.0), "training step under each frame")]
    assert timeline.export_options == chosen
    with Image.open(tmp_path / "chosen.gif") as im:
        assert im.info["loop"] == 1 and im.info["duration"] == 500 and im.n_frames == 3
        assert im.size == (timeline.grids[0].shape[1] * 3, timeline.grids[0].shape[0] * 3)
    out = timeline.export_to(tmp_path / "tl.gif", scale=1, labels=True, loop=1)
    frames = read_frames(out)
    assert frames.shape[0] == 3 and frames.shape[1] == timeline.grids[0].shape[0] + 12
    with Image.open(out) as im:
        assert "loop" not in im.info
