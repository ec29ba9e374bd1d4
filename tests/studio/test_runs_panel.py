"""The Runs panel lists past runs, reopens one (curves, samples, settings) and continues it."""

import json

import numpy as np
import pytest

from engines.families.gan import DCGANConfig
from engines.train.loop import Trainer, TrainSettings
from engines.workspace import new_run_dir, runs_folder

from .helpers import dispose


def _train_past_run(blob_folder, steps=6):
    """A finished run in the test's workspace, trained headless as `genstudio train` would."""
    from engines.data import load_images

    data = load_images([str(blob_folder)], size=16, channels=1)
    settings = TrainSettings(steps=steps, batch_size=8, log_every=1, sample_every=3, n_samples=9,
                             checkpoint_every=0, device="cpu")
    out = new_run_dir(None, "dcgan")
    list(Trainer.new("dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8), settings, data, out).run())
    return out


def test_lists_opens_and_continues_a_past_run(qtbot, blob_folder):
    from studio.main_window import STOP_AND_SAVE, MainWindow

    run = _train_past_run(blob_folder)
    (runs_folder() / "broken").mkdir()
    (runs_folder() / "broken" / "run.json").write_text("{")
    window = MainWindow()
    window.close_policy = lambda: STOP_AND_SAVE
    window.show()
    try:
        panel = window.panels["runs"]
        assert panel.tree.topLevelItemCount() == 1
        item = panel.tree.topLevelItem(0)
        assert [item.text(i) for i in (1, 2, 3)] == ["dcgan", "finished", "6 / 6"]
        assert "blobs — 32 images, 2 classes, 16px grey" == item.text(5) and "d_loss" in item.text(4)
        assert not item.icon(0).isNull()  # the thumbnail of the latest samples
        assert "1 folder skipped" in panel.note.text() and "broken" in panel.note.toolTip()
        assert not panel.open_button.isEnabled()

        # open: curves, gallery and settings come back
        assert panel.select(run) and panel.open_button.isEnabled()
        with qtbot.waitSignal(panel.history_read, timeout=30_000):   # read off the GUI thread
            panel.open_button.click()
            assert not panel.open_button.isEnabled() and not panel.continue_button.isEnabled()
        assert panel.open_button.isEnabled()
        state = window.state
        assert state.family_name == "dcgan" and state.config.latent_dim == 8 and state.settings.steps == 6
        assert window.panels["model"].family_form.config().latent_dim == 8
        assert window.panels["losses"].point_count("g_loss") == 6
        gallery = window.panels["gallery"]
        assert gallery.latest.step == 6 and gallery.latest.images.shape == (9, 16, 16, 1)
        assert "Opened a finished run" in window.panels["training"].status_label.text()
        assert window.panels["timeline"].steps == [0, 3, 6]  # the Timeline scrubs its sample history
        latent = window.panels["latent"]  # and the explorer loads the run's model in the background
        qtbot.waitUntil(lambda: latent.model_info is not None, timeout=30_000)
        assert latent.model_info["family"] == "dcgan" and latent.model_info["step"] == 6

        # a finished run needs more steps before it can continue
        messages = []
        state.message.connect(lambda level, text, details: messages.append(text))
        with qtbot.waitSignal(panel.history_read, timeout=30_000):
            assert panel.continue_selected()
        assert "raise Steps" in messages[-1] and not state.session.active
        window.panels["model"].settings_form.editor("steps").setValue(9)
        assert state.settings.steps == 9

        # continue: the images load, training resumes from the checkpoint and the run grows
        failures = []
        state.failed.connect(lambda e: failures.append(e.message))
        with qtbot.waitSignal(state.finished, timeout=60_000, raising=False) as done:
            assert panel.continue_selected()   # the history is read in the background, then training starts
        assert done.signal_triggered, (messages, failures)
        assert done.args[0].step == 9 and done.args[0].reason == "completed"
        qtbot.waitUntil(lambda: not state.session.active, timeout=30_000)
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows] == list(range(1, 10))
        qtbot.waitUntil(lambda: panel.tree.topLevelItem(0).text(3) == "9 / 9", timeout=10_000)
        assert np.isfinite(list(panel.summaries[0].last_losses.values())).all()
    finally:
        window.state.shutdown(30_000)
        window.close()
        dispose(window)


def test_a_run_that_broke_after_listing_is_a_message_not_a_crash(qtbot, blob_folder):
    from studio.main_window import MainWindow

    run = _train_past_run(blob_folder, steps=3)
    window = MainWindow()
    window.show()
    try:
        panel = window.panels["runs"]
        messages = []
        window.state.message.connect(lambda level, text, details: messages.append((level, text)))
        assert panel.select(run)
        (run / "run.json").write_text("garbage")
        with qtbot.waitSignal(panel.history_read, timeout=30_000) as read:
            assert panel.open_selected()
        assert read.args == [None] and window.state.run_dir is None
        assert messages[-1][0] == "error" and "Cannot open the run" in messages[-1][1]
        assert panel.tree.topLevelItemCount() == 0  # refreshed: the broken run is gone from the list
    finally:
        window.state.shutdown(30_000)
        window.close()
        dispose(window)


def test_continue_takes_every_change_the_cli_resume_takes(window, blob_folder):
    """The studio's Continue and `genstudio train --resume` build the same plan from the same changes:
    more steps, a new time budget, another device."""
    from dataclasses import replace

    from engines.cli import build_parser
    from engines.cli.train import parse_duration, plan_from_args
    from engines.workspace import read_history

    run = _train_past_run(blob_folder, steps=2)
    state = window.state
    state.open_run(read_history(run))
    state.set_settings(replace(state.settings, steps=9, time_limit=30.0, device="auto"))
    studio_plan = state.plan(run, resume=True)
    args = build_parser().parse_args(["train", "--resume", "--out", str(run), "--steps", "9", "--time", "30s",
                                      "--device", "auto"])
    cli_plan = plan_from_args(args, parse_duration(args.time))
    assert studio_plan == cli_plan
    s = studio_plan.settings
    assert studio_plan.resume and (s.steps, s.time_limit, s.device) == (9, 30.0, "auto")


def test_a_run_starting_or_ending_rereads_its_own_folder_only(qtbot, blob_folder, monkeypatch):
    """Start and end of a run update that run's row (added at the top when new) without rescanning the
    workspace: a rescan read every run's folder and decoded every thumbnail on the GUI thread."""
    from studio.docks import runs as runs_module
    from studio.state import StudioState

    old = _train_past_run(blob_folder, steps=3)
    state = StudioState()
    panel = runs_module.RunsPanel(state)
    qtbot.addWidget(panel)
    assert [s.path for s in panel.summaries] == [old]
    assert panel.select(old)
    monkeypatch.setattr(runs_module, "scan_runs", lambda *a: pytest.fail("the workspace was rescanned"))
    new = _train_past_run(blob_folder, steps=2)       # what a run that starts has written by then
    state.run_dir = new
    state.run_started.emit(None)
    assert [s.path for s in panel.summaries] == [new, old] and panel.tree.topLevelItemCount() == 2
    assert panel.tree.topLevelItem(0).text(3) == "2 / 2" and "2 runs" in panel.note.text()
    assert panel.selected_paths() == [old]             # the selection stays
    state.run_dir = old
    state.run_ended.emit()                             # the row is read again, in its place
    assert [s.path for s in panel.summaries] == [new, old] and panel.selected_paths() == [old]
    state.run_dir = blob_folder                        # a folder outside the workspace: not listed
    state.run_ended.emit()
    assert panel.tree.topLevelItemCount() == 2
