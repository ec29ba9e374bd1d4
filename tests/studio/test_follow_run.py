"""Explorer panels follow the run being trained (from its first checkpoint) and the run that just
finished, unless the person pinned another; the Runs table shows the running run's live step."""

from pathlib import Path

from .helpers import configure_tiny_run, load_into

COLUMN_STEPS = 3


def _train(qtbot, window, seen_in_runs_table=None):
    state = window.state
    with qtbot.waitSignal(state.run_ended, timeout=120_000):
        assert state.start()
    assert state.run_dir is not None
    return Path(state.run_dir)


def _shows(panel, run, step):
    info = getattr(panel, "info", None) or getattr(panel, "model_info", None)
    return info is not None and Path(info["run_dir"]) == run and info["step"] == step


def test_panels_follow_the_trained_run_unless_pinned_and_runs_show_the_live_step(qtbot, window, blob_folder):
    load_into(qtbot, window, blob_folder)
    configure_tiny_run(window, steps=4, sample_every=0)
    window.panels["model"].settings_form.editor("checkpoint_every").setValue(2)
    sampler, latent, runs = window.panels["sampler"], window.panels["latent"], window.panels["runs"]
    assert not sampler.chooser.pinned and not latent.chooser.pinned  # following is the default

    opened = []  # (run, whether training was still going) each time the Sampler opened a run
    sampler.chooser.chosen.connect(lambda run, _ckpt: opened.append((Path(run), window.state.session.active)))
    run_a = _train(qtbot, window)
    qtbot.waitUntil(lambda: _shows(sampler, run_a, 4) and _shows(latent, run_a, 4), timeout=60_000)
    # opened at the first checkpoint while training, then again (its newest) when it finished
    assert opened == [(run_a, True), (run_a, False)] or opened == [(run_a, True), (run_a, True)]

    latent.chooser.set_pinned(True)  # the person keeps run A in the Latent panel
    live = []

    def on_progress(event):  # connected after the Runs panel: it has updated its row already
        for i in range(runs.tree.topLevelItemCount()):
            item = runs.tree.topLevelItem(i)
            if Path(item.data(0, 256)) == Path(window.state.run_dir):
                live.append((event.step, item.text(COLUMN_STEPS), item.text(2)))
    window.state.progress.connect(on_progress)
    run_b = _train(qtbot, window)
    assert run_b != run_a
    qtbot.waitUntil(lambda: _shows(sampler, run_b, 4), timeout=60_000)
    assert _shows(latent, run_a, 4) and latent.chooser.pinned  # pinned: still run A
    assert ("3 / 4" in [text for _, text, _ in live]) and all(status == "running" for *_, status in live)
    assert [step for step, *_ in live] == [1, 2, 3, 4]

    latent.chooser.use_current.click()  # "Current run": follow again
    assert not latent.chooser.pinned
    qtbot.waitUntil(lambda: _shows(latent, run_b, 4), timeout=60_000)
    assert "Pin" in latent.chooser.pin.text()
