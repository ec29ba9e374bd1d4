import json

import numpy as np
import pytest

from engines.config import replace_checked
from engines.families.gan import DCGANConfig
from engines.train import events as ev
from engines.train.loop import Control, Trainer, TrainSettings
from engines.train.run import RunError

SETTINGS = TrainSettings(steps=12, batch_size=8, log_every=2, sample_every=6, checkpoint_every=0,
                         n_samples=4)
SMALL = DCGANConfig(latent_dim=8, g_width=8, d_width=8)


def _losses(run_dir):
    return [(r["step"], r["losses"]) for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())]


def test_loop_yields_progress_samples_checkpoint_and_finish(tmp_path, tiny):
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run")
    events = list(trainer.run())
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "Started" and kinds[-1] == "Finished"
    progress = [e for e in events if isinstance(e, ev.Progress)]
    assert [p.step for p in progress] == [2, 4, 6, 8, 10, 12]
    assert set(progress[0].losses) >= {"d_loss", "g_loss"}
    samples = [e for e in events if isinstance(e, ev.Samples)]
    assert [s.step for s in samples] == [0, 6, 12]
    assert samples[-1].images.shape == (4, 16, 16, 1) and samples[-1].images.dtype == np.uint8
    assert samples[-1].grid.ndim == 3
    assert any(isinstance(e, ev.CheckpointSaved) for e in events)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "finished" and record["family"] == "dcgan"
    assert [s for s, _ in _losses(tmp_path / "run")] == [2, 4, 6, 8, 10, 12]


def test_same_seed_same_samples(tiny):
    a = Trainer.new("dcgan", SMALL, SETTINGS, tiny, None).make_samples().images
    b = Trainer.new("dcgan", SMALL, SETTINGS, tiny, None).make_samples().images
    np.testing.assert_array_equal(a, b)


def test_stop_then_resume_matches_an_uninterrupted_run(tmp_path, tiny):
    settings = replace_checked(SETTINGS, flip=True, log_every=1)
    straight = tmp_path / "straight"
    list(Trainer.new("dcgan", SMALL, settings, tiny, straight).run())

    halves = tmp_path / "halves"
    control = Control()
    trainer = Trainer.new("dcgan", SMALL, settings, tiny, halves)
    for e in trainer.run(control):
        if isinstance(e, ev.Progress) and e.step == 5:
            control.request_stop()
    assert json.loads((halves / "run.json").read_text())["status"] == "stopped"
    resumed = Trainer.resume(halves, tiny)
    assert resumed.step == 5
    list(resumed.run())
    assert _losses(halves) == _losses(straight)


def test_pause_blocks_until_resumed(tiny):
    """Event-driven, no timing: the resume comes from another thread only once the loop is waiting."""
    import threading

    class Watched(Control):
        def __init__(self):
            super().__init__()
            self.waiting = threading.Event()

        def wait_while_paused(self, timeout: float = 0.2) -> None:
            self.waiting.set()           # the loop is blocked here until resumed
            super().wait_while_paused(timeout)

    def resume_once_waiting():
        assert control.waiting.wait(60), "the paused loop never waited"
        control.resume()

    control = Watched()
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, None)
    seen, resumer = [], threading.Thread(target=resume_once_waiting, daemon=True)
    for e in trainer.run(control):
        seen.append(e)
        if isinstance(e, ev.Progress) and e.step == 2:
            control.pause()
        elif isinstance(e, ev.Paused):
            resumer.start()
    resumer.join(60)
    kinds = [type(e).__name__ for e in seen]
    paused, resumed = kinds.index("Paused"), kinds.index("Resumed")
    assert paused < resumed and kinds[-1] == "Finished" and control.waiting.is_set()
    assert seen[paused].step == seen[resumed].step == 2   # no step trained while paused


def test_a_folder_with_a_run_is_not_overwritten(tmp_path, tiny):
    list(Trainer.new("dcgan", SMALL, replace_checked(SETTINGS, steps=2), tiny, tmp_path / "r").run())
    with pytest.raises(RunError, match="already holds a run"):
        Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "r")


def test_resume_refuses_data_of_another_shape(tmp_path, tiny):
    from tests.helpers import tiny_dataset

    list(Trainer.new("dcgan", SMALL, replace_checked(SETTINGS, steps=2), tiny, tmp_path / "r").run())
    with pytest.raises(RunError, match="does not match"):
        Trainer.resume(tmp_path / "r", tiny_dataset(size=32))
