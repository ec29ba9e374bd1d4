"""The Sampler panel with StyleGAN and BigGAN runs: the truncation slider and the style-mixing grid."""

import pytest
from PIL import Image

from engines.cli import main as cli
from engines.data.toy import write_digit_folder
from tests.engines.family_cases import SMALL_CONFIG


def _train(root, family):
    folder = write_digit_folder(root / "digits", size=16, per_class=1) if not (root / "digits").exists() \
        else root / "digits"
    run = root / family
    small = [a for k, v in SMALL_CONFIG[family].items() for a in ("--set", f"{k}={v}")]
    assert cli(["train", "--family", family, "--data", str(folder), "--out", str(run), "--size", "16",
                "--steps", "2", "--batch-size", "4", "--set", "sample_every=0", "--quiet", *small]) == 0
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("milestones")
    return {"stylegan": _train(root, "stylegan"), "biggan": _train(root, "biggan")}


def _open(qtbot, window, run):
    panel = window.panels["sampler"]
    with qtbot.waitSignal(panel.service.loaded, timeout=60_000):
        panel.open_run(run)
    return panel


def test_stylegan_truncation_slider_and_style_mixing_grid(qtbot, window, runs, tmp_path):
    panel = _open(qtbot, window, runs["stylegan"])
    slider, text = panel.options.sliders["truncation"], panel.options.editor("truncation")
    assert slider.value() == slider.maximum() and text.text() == "1"
    slider.setValue(slider.maximum() // 2)
    assert text.text() == "0.5" and panel.options.values()["truncation"] == 0.5
    text.setText("0.25")
    assert slider.value() == slider.maximum() // 4
    assert panel.mix_button.isVisibleTo(panel) and panel.mix_button.isEnabled()
    assert [panel.mix_level.itemText(i) for i in range(panel.mix_level.count())] == ["coarse", "middle", "fine"]
    panel.count.setValue(4)
    with qtbot.waitSignal(panel.service.frames_ready, timeout=60_000):
        panel.sample()
    assert panel.result.shape == (4, 16, 16, 1)
    panel.mix_level.setCurrentText("fine")
    with qtbot.waitSignal(panel.service.frames_ready, timeout=60_000):
        panel.style_mix()
    assert panel.result.shape == (4 * 6, 16, 16, 1) and panel.columns == 6
    assert "fine styles" in panel.status.text()
    out = panel.export_to(tmp_path / "mix.png", scale=1, labels=False)
    assert Image.open(out).size == (6 * 16, 4 * 16)


def test_biggan_truncation_slider_and_no_style_mixing(qtbot, window, runs):
    panel = _open(qtbot, window, runs["biggan"])
    assert "truncation" in panel.options.sliders
    assert not panel.mix_button.isVisibleTo(panel)
    panel.options.editor("truncation").setText("0.01")  # below BigGAN's minimum: refused, nothing runs
    assert panel.options.error and not panel.sample_button.isEnabled()
    panel.options.editor("truncation").setText("0.6")
    assert panel.sample_button.isEnabled()
    panel.count.setValue(3)
    with qtbot.waitSignal(panel.service.frames_ready, timeout=60_000):
        panel.sample()
    assert panel.result.shape == (3, 16, 16, 1)


def test_latent_panel_offers_truncation_and_space_and_replaces_the_end_points(qtbot, window, runs):
    panel = window.panels["latent"]
    with qtbot.waitSignal(panel.service.loaded, timeout=60_000):
        panel.open_run(runs["stylegan"])
    qtbot.waitUntil(lambda: all(n in panel.service.latents for n in "AB"), timeout=60_000)
    assert set(panel.options.editors) == {"truncation", "space"} and "truncation" in panel.options.sliders
    engine = panel.service.engine
    w_a = panel.service.latents["A"].clone()
    panel.options.editors["space"].widget.setCurrentText("z")
    qtbot.waitUntil(lambda: engine.space == "z" and not panel.service.latents["A"].equal(w_a), timeout=60_000)
    import torch
    z = torch.randn(1, engine.config.latent_dim, generator=torch.Generator().manual_seed(1))[0]
    torch.testing.assert_close(panel.service.latents["A"], z)
    panel.options.sliders["truncation"].setValue(50)
    qtbot.waitUntil(lambda: engine.truncation == 0.5, timeout=60_000)


def test_training_panel_shows_the_growing_resolution(window):
    from engines.train import events as ev

    panel = window.panels["training"]
    assert not panel.growth_label.isVisibleTo(panel)
    window.state.metrics.emit(ev.Metrics(10, {"d_loss": 1.0}))  # other families: nothing shown
    assert not panel.growth_label.isVisibleTo(panel)
    window.state.metrics.emit(ev.Metrics(200, {"resolution": 8.0, "fade_alpha": 0.25}))
    assert panel.growth_label.isVisibleTo(panel) and panel.growth_label.text() == "8×8 px, fading in (alpha 0.25)"
    window.state.metrics.emit(ev.Metrics(400, {"resolution": 16.0, "fade_alpha": 1.0}))
    assert panel.growth_label.text() == "16×16 px"


def test_latent_panel_morphs_biggan_classes(qtbot, window, runs):
    import numpy as np

    panel = window.panels["latent"]
    with qtbot.waitSignal(panel.service.loaded, timeout=60_000):
        panel.open_run(runs["biggan"])
    qtbot.waitUntil(lambda: all(n in panel.service.latents for n in "AB"), timeout=60_000)
    assert panel.model_info["class_mixing"] and panel.model_info["conditional"]
    a, b = panel.endpoints["A"], panel.endpoints["B"]
    assert b.class_box.isVisibleTo(panel) and (a.label(), b.label()) == (0, 1)
    panel.frames_spin.setValue(3)
    panel.mode_box.setCurrentText("lerp")
    with qtbot.waitSignal(panel.service.frames_ready, timeout=60_000):
        panel.render_strip()
    assert panel.result_captions == ["0", "0 50% 1 50%", "1"]
    engine = panel.service.engine
    mid = engine.decode((engine.random_latents(1, 1) + engine.random_latents(1, 2)) / 2,
                        labels=np.array([[0.5, 0.5] + [0.0] * 8], np.float32))
    np.testing.assert_array_equal(panel.result[1], mid[0])
