"""An overfitting warning offers "Use best": the explorer panels open the run's best checkpoint."""

from engines import registry
from engines.config import replace_checked
from engines.train import events as ev
from engines.train.checkpoint import best_checkpoint
from engines.train.loop import Trainer, TrainSettings
from tests.helpers import tiny_dataset


def _run_with_best(root):
    config = replace_checked(registry.get("ae").config_class(), latent_dim=4, width=4)
    settings = TrainSettings(steps=6, batch_size=4, log_every=2, sample_every=0, checkpoint_every=2,
                             keep_checkpoints=1, validate_every=2, val_fraction=0.5, n_samples=4, monitor_every=0)
    events = list(Trainer.new("ae", config, settings, tiny_dataset(n=8, size=8), root / "run").run())
    assert isinstance(events[-1], ev.Finished)
    return root / "run"


def test_overfitting_warning_offers_use_best_which_opens_it_in_the_explorers(qtbot, window, tmp_path):
    run = _run_with_best(tmp_path)
    best = best_checkpoint(run)
    window.state.run_dir = run  # the run being trained
    window.state.train_warning.emit(ev.TrainWarning(6, "overfitting: held-out mse got worse", "overfitting"))
    message = window.message_bar.messages[-1]
    assert message.level == "warning"
    sampler, latent = window.panels["sampler"], window.panels["latent"]
    with qtbot.waitSignal(sampler.service.loaded, timeout=60_000) as loaded, \
            qtbot.waitSignal(latent.service.loaded, timeout=60_000):
        message.buttons["Use best"].click()
    assert loaded.args[0]["checkpoint"] == str(best)
    assert "best checkpoint" in sampler.chooser.label.text()
    assert sampler.chooser.checkpoint_box.currentText().startswith("best (step")


def test_use_best_without_a_best_checkpoint_says_so(window, tmp_path):
    window.state.run_dir = tmp_path
    assert not window.state.use_best()
    assert "no best checkpoint" in window.message_bar.messages[-1].text


def test_small_data_note_is_information_not_a_warning(qtbot, window, blob_folder):
    """A real run on 32 images: the note arrives as an information message, not a warning."""
    state = window.state
    with qtbot.waitSignal(state.dataset_changed, timeout=60_000):
        state.load([str(blob_folder)], size=16)
    state.set_family("ae")
    state.set_settings(TrainSettings(steps=2, batch_size=4, sample_every=0, n_samples=4, validate_every=0))
    with qtbot.waitSignal(state.run_ended, timeout=120_000):
        assert state.start(out_dir=None)
    notes = [m for m in window.message_bar.messages if "small dataset" in m.text]
    assert len(notes) == 1 and notes[0].level == "info"


def test_the_explorer_panels_share_one_model_per_checkpoint(qtbot, window, tmp_path):
    """"Use best" loaded the same model four times on four threads (four copies in memory); now the
    first panel's request loads it and the others use that copy. Another checkpoint is another model."""
    from studio.model_service import open_models
    run = _run_with_best(tmp_path)
    models = open_models()
    before = models.total_loads()
    window.state.run_dir = run
    panels = [window.panels[p] for p in ("latent", "sampler", "tools", "translate")]
    with qtbot.waitSignals([p.service.loaded for p in panels], timeout=60_000):
        assert window.state.use_best()
    assert models.total_loads() - before == 1
    hosts = {p.service.host for p in panels}
    assert len(hosts) == 1 and hosts.pop().key in models.hosts
    # the panels read what the model offers from what it sent, never from the engine on this thread
    assert all(p.service.loaded is not None for p in panels) and panels[2].engine_class is not None

    sampler = window.panels["sampler"]
    with qtbot.waitSignal(sampler.service.loaded, timeout=60_000):
        sampler.open_run(run)                                   # the newest checkpoint: another model
    assert models.total_loads() - before == 2 and sampler.service.host is not panels[0].service.host
    for p in panels:
        p.service.shutdown()
    assert not any(str(run.resolve()) == key[0] for key in models.hosts)    # the last panel out ends them
