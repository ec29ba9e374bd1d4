"""The Sampler panel on real tiny runs: diffusion (options, denoising path, steps vs time) and
PixelCNN (step-by-step sampling that can be stopped)."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QCoreApplication

from engines.cli import main as cli


def _train(root, family, sets):
    data = root / "imgs"
    for c in range(2):
        (data / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(8):
            Image.new("L", (16, 16), color=40 + 150 * c + i).save(data / f"c{c}" / f"{i}.png")
    run = root / family
    args = ["train", "--family", family, "--data", str(data), "--out", str(run), "--size", "16",
            "--steps", "3", "--batch-size", "4", "--set", "n_samples=4", "--quiet"]
    for s in sets:
        args += ["--set", s]
    assert cli(args) == 0
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sampler")
    return {
        "ddpm": _train(root, "ddpm", ["base_channels=8", "channel_mults=1,2", "timesteps=100", "sample_steps=4",
                                      "sample_every=0"]),
        "pixelcnn": _train(root, "pixelcnn", ["layers=2", "hidden=6", "kernel=3", "head=8", "sample_every=0"]),
    }


def _open(qtbot, window, run):
    panel = window.panels["sampler"]
    with qtbot.waitSignal(panel.service.loaded, timeout=60_000):
        panel.open_run(run)
    qtbot.waitUntil(lambda: panel.service.pending == 0, timeout=30_000)  # the open job ended, all it sent arrived
    return panel


def test_diffusion_options_path_and_timings(qtbot, window, runs, tmp_path):
    panel = _open(qtbot, window, runs["ddpm"])
    assert panel.path_button.isEnabled() and panel.times_button.isEnabled()
    assert "sampler, steps, eta, guidance, ema" in panel.options_hint.text()
    assert panel.class_box.count() == 3  # all classes + c0 + c1
    steps = panel.options.editor("steps")
    assert steps.maximum() == 100 and steps.value() == 4  # the run's T and its own sample_steps
    panel.count.setValue(4)
    steps.setValue(3)
    with qtbot.waitSignal(panel.service.frames_ready, timeout=60_000):
        panel.sample()
    assert panel.result.shape == (4, 16, 16, 1)
    # all classes in turn, one column per class: the labelled grid names each image's class
    assert panel.captions == ["c0", "c1", "c0", "c1"]
    grid = panel.export_to(tmp_path / "classes.png", scale=1, labels=True)
    assert Image.open(grid).size == (2 * 16 + 3 * 2, 2 * (16 + 12) + 3 * 2)
    with qtbot.waitSignal(panel.service.frames_ready, timeout=60_000):
        panel.sample_path()
    assert panel.columns >= 2 and len(panel.result) == 4 * panel.columns
    assert "Denoising path" in panel.status.text()
    with qtbot.waitSignal(panel.service.timings_ready, timeout=120_000):
        panel.sampling_times()
    assert "10 steps" in panel.status.text() and "100 steps" in panel.status.text()
    out = panel.export_to(tmp_path / "path.png", scale=1)
    assert out is not None and Image.open(out).size[0] > 16


def test_nothing_samples_while_an_option_is_invalid(qtbot, window, runs):
    panel = _open(qtbot, window, runs["ddpm"])
    got, failed = [], []
    panel.service.frames_ready.connect(lambda kind, frames: got.append(kind))
    panel.service.failed.connect(lambda *a: failed.append(a))
    eta = panel.options.editor("eta")
    eta.setText("2")  # beyond its range (the validator lets a person type it; the check refuses it)
    assert not panel.sample_button.isEnabled() and not panel.path_button.isEnabled()
    assert "eta must be at most 1" in panel.sample_button.toolTip()
    assert panel.options_error.isVisible() and "eta must be at most 1" in panel.options_error.text()
    panel.sample()  # e.g. a shortcut: refused with the reason, no job is queued
    assert panel.service.pending == 0 and "eta must be at most 1" in panel.status.text()
    QCoreApplication.processEvents()
    assert got == [] and failed == [] and "eta must be at most 1" in panel.status.text()
    panel.options.editor("steps").lineEdit().setText("abc")
    assert not panel.sample_button.isEnabled()
    eta.setText("0.2")
    panel.options.editor("steps").setValue(2)
    assert panel.sample_button.isEnabled() and not panel.options_error.isVisible()
    panel.count.setValue(2)
    with qtbot.waitSignal(panel.service.frames_ready, timeout=60_000):
        panel.sample()
    assert panel.status.text().startswith("2 samples")


def test_pixelcnn_samples_can_be_stopped(qtbot, window, runs):
    panel = _open(qtbot, window, runs["pixelcnn"])
    assert not panel.path_button.isEnabled() and "temperature" in panel.options_hint.text()
    got = []
    panel.service.frames_ready.connect(lambda kind, frames: got.append(kind))
    panel.count.setValue(64)
    panel.sample()
    panel.stop_button.setEnabled(True)
    panel.stop_button.click()  # drops the job if it has not started, else stops it at the next row
    qtbot.waitUntil(lambda: panel.service.pending == 0, timeout=60_000)
    QCoreApplication.processEvents()  # deliver anything the service queued before it went idle
    assert got == []  # stopped before the samples were done: nothing half-made is shown
    panel.count.setValue(2)
    with qtbot.waitSignal(panel.service.frames_ready, timeout=60_000):
        panel.sample()
    assert panel.result.shape == (2, 16, 16, 1) and panel.result.dtype == np.uint8
