import json

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from engines.train import events as ev
from studio.main_window import CANCEL_CLOSE, STOP_AND_SAVE

from .helpers import configure_tiny_run, load_into


def start(qtbot, window):
    with qtbot.waitSignal(window.state.run_started, timeout=30_000):
        assert window.state.actions.start.isEnabled(), window.state.can_start()
        window.state.actions.start.trigger()


def test_train_tiny_dcgan_plots_shows_and_exports(qtbot, window, blob_folder, tmp_path):
    load_into(qtbot, window, blob_folder)
    configure_tiny_run(window, steps=12, sample_every=4)
    state = window.state
    with qtbot.waitSignal(state.finished, timeout=60_000) as done:
        start(qtbot, window)
    assert done.args[0].reason == "completed" and done.args[0].step == 12
    qtbot.waitSignal(state.run_ended, timeout=30_000).wait() if state.session.active else None
    assert window.windowTitle() == "genstudio"

    losses = window.panels["losses"]
    assert losses.point_count("d_loss") == 12 and losses.point_count("g_loss") == 12
    qtbot.waitUntil(lambda: losses.drawn_points("g_loss") == 12, timeout=5_000)

    gallery = window.panels["gallery"]
    assert gallery.latest is not None and gallery.latest.step == 12
    assert gallery.grid_view.image is not None and not gallery.grid_view.image.isNull()

    # click a tile (the 5th), then ctrl-click another: both selected, the last one enlarged
    view = gallery.grid_view
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.tile_rect(4).center())
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=view.tile_rect(7).center())
    assert gallery.selected() == [4, 7]
    assert gallery.enlarged.image is not None and gallery.enlarged.image.width() == 16

    gallery.scale_box.setValue(1)
    gallery.grid_view.selected = {4}
    gallery.ask_save_path = lambda title, name: str(tmp_path / "one.png")
    path = gallery.export_selected()
    with Image.open(path) as im:
        got = np.asarray(im)
    assert np.array_equal(got, gallery.latest.images[4][..., 0])

    gallery.scale_box.setValue(2)
    path = gallery.export_grid()
    assert path == tmp_path / "one.png"
    with Image.open(path) as im:
        assert im.size == (gallery.latest.grid.shape[1] * 2, gallery.latest.grid.shape[0] * 2)

    # a name without .png that would replace an existing file asks first; "no" keeps the file
    existing = tmp_path / "keep.png"
    existing.write_bytes(b"precious")
    asked = []
    gallery.ask_save_path = lambda title, name: str(tmp_path / "keep")
    gallery.confirm_overwrite = lambda p: asked.append(p) or False
    assert gallery.export_grid() is None
    assert asked == [existing] and existing.read_bytes() == b"precious"

    run_dir = state.run_dir
    assert run_dir is not None and run_dir.parent == tmp_path / "workspace" / "runs"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["family"] == "dcgan"


def test_pause_resume_stop(qtbot, window, blob_folder):
    load_into(qtbot, window, blob_folder)
    configure_tiny_run(window, steps=100_000, sample_every=0)
    state = window.state
    with qtbot.waitSignal(state.progress, timeout=30_000):
        start(qtbot, window)
    with qtbot.waitSignal(state.paused, timeout=30_000):
        state.actions.pause.trigger()
    assert state.training_state == "paused" and state.actions.pause.text() == "&Resume"
    assert "paused" in window.windowTitle()
    with qtbot.waitSignal(state.resumed, timeout=30_000):
        state.actions.pause.trigger()
    with qtbot.waitSignal(state.progress, timeout=30_000):
        pass
    assert "% dcgan" in window.windowTitle()
    with qtbot.waitSignal(state.checkpoint, timeout=30_000) as saved:
        state.actions.save.trigger()
    finished = []
    state.finished.connect(finished.append)
    with qtbot.waitSignals([state.finished, state.run_ended], timeout=60_000):
        state.actions.stop.trigger()
    panel = window.panels["training"]
    finished_step = panel.bar.value()
    assert 0 < finished_step < 100_000
    assert finished_step == finished[0].step and panel.step_label.text() == f"{finished_step} / 100000"
    assert saved.args[0].step > 0
    assert state.training_state == "idle" and not state.session.active
    assert list((state.run_dir / "checkpoints").iterdir())
    assert json.loads((state.run_dir / "run.json").read_text())["status"] == "stopped"


def test_closing_during_training_stops_saves_and_joins(qtbot, window, blob_folder):
    load_into(qtbot, window, blob_folder)
    configure_tiny_run(window, steps=100_000, sample_every=0)
    state = window.state
    with qtbot.waitSignal(state.progress, timeout=30_000):
        start(qtbot, window)
    thread_done = []
    state.session.thread.finished.connect(lambda: thread_done.append(True))

    window.close_policy = lambda: CANCEL_CLOSE
    assert not window.close()
    assert window.isVisible() and state.session.active

    window.close_policy = lambda: STOP_AND_SAVE
    with qtbot.waitSignal(state.run_ended, timeout=60_000):
        window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert thread_done == [True] and not state.session.active
    assert json.loads((state.run_dir / "run.json").read_text())["status"] == "stopped"
    assert list((state.run_dir / "checkpoints").iterdir())


def test_start_is_refused_without_data(qtbot, window):
    assert not window.state.actions.start.isEnabled()
    assert not window.state.start()
    assert any("load some images" in t for t in window.message_bar.texts())


def test_unwritable_workspace_fails_visibly_and_the_app_goes_on(qtbot, window, blob_folder, tmp_path,
                                                                  monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(blocker))
    load_into(qtbot, window, blob_folder)
    configure_tiny_run(window)
    with qtbot.waitSignals([window.state.failed, window.state.run_ended], timeout=30_000):
        window.state.start()
    text = window.message_bar.texts()[-1]
    assert text.startswith("Training failed") and str(blocker) in text
    assert window.state.training_state == "idle" and window.state.actions.start.isEnabled()


def test_shutdown_during_training_joins_the_worker(qtbot, window, blob_folder):
    """What happens when the app quits (aboutToQuit): stop, wait for the thread, no deadlock."""
    load_into(qtbot, window, blob_folder)
    configure_tiny_run(window, steps=100_000, sample_every=0)
    with qtbot.waitSignal(window.state.progress, timeout=30_000):
        start(qtbot, window)
    assert window.state.shutdown(30_000)
    assert not window.state.session.active


def test_training_panel_says_when_it_draws_samples(window):
    from engines.train import events as ev

    label = window.panels["training"].status_label
    window.state.phase.emit(ev.Phase(10, "sampling", "drawing 64 sample images", 3.2))
    assert label.text() == "Drawing 64 sample images (about 0:03)…"
    window.state.phase.emit(ev.Phase(0, "sampling", "drawing 64 sample images", None))
    assert label.text() == "Drawing 64 sample images…"


def test_a_time_budget_shows_in_the_training_panel(qtbot, window):
    from engines.train import events as ev

    panel = window.panels["training"]
    window.state.run_started.emit(ev.Started("/tmp/run", "dcgan", 0, 2000, "cpu", 10, 600.0, 0.0))
    assert panel.step_label.text() == "0 / 2000, or 10:00 of training time"
    window.state.progress.emit(ev.Progress(10, 2000, {"loss": 1.0}, 100.0, 5.0, 595.0))
    assert panel.step_label.text().endswith("or 10:00 of training time") and panel.eta_label.text() == "9:55"


def test_a_reopened_run_shows_its_own_figures_and_a_time_budget_ends_full(qtbot, window):
    """Opening a past run showed the previous run's elapsed time and batch; a run limited by time showed
    "6%" when it ended."""
    from types import SimpleNamespace
    state, panel = window.state, window.panels["training"]
    state.run_started.emit(ev.Started(None, "dcgan", 0, 10_000, "cpu", 10, time_limit_s=60.0, global_batch=64))
    state.progress.emit(ev.Progress(300, 10_000, {"d_loss": 1.0}, 50.0, 30.0, 30.0))
    assert panel.elapsed_label.text() != "–" and "64" in panel.batch_label.text()
    # while it runs the bar follows the limit nearer to ending it: half the minute, not 3% of the steps
    assert panel.bar.value() == panel.bar.maximum() // 2 and "50%" in panel.bar.text()
    state.finished.emit(ev.Finished(600, "time budget"))
    assert panel.bar.value() == panel.bar.maximum() == 600 and "time budget" in panel.step_label.text()
    assert panel.bar.text() == "600 steps, 1:00 of 1:00 (100%)"   # not the last report's "300 steps … (50%)"

    history = SimpleNamespace(settings={"steps": 500, "batch_size": 16}, step=200, path="/runs/old",
                              status="finished")
    panel._on_opened(history)
    assert panel.elapsed_label.text() == "–" and panel.eta_label.text() == "–"
    assert panel.speed_label.text() == "–" and panel.batch_label.text() == "16 per step"
    assert (panel.bar.value(), panel.bar.maximum()) == (200, 500)


def test_the_title_names_the_app_once_and_counts_a_time_budget(qtbot, window):
    state = window.state
    state._set_training_state("running")
    try:
        state.run_started.emit(ev.Started(None, "vae", 0, 10_000, "cpu", 10, time_limit_s=100.0))
        state.progress.emit(ev.Progress(150, 10_000, {"loss": 1.0}, 50.0, 50.0, 50.0))
        assert window.windowTitle().count("genstudio") == 1 and window.windowTitle().endswith("— genstudio")
        assert window.windowTitle().startswith("50% vae")         # half the time budget, not 1% of the steps
    finally:
        state._set_training_state("idle")
    assert window.windowTitle() == "genstudio"
