"""Families with a validation measure keep a "best" checkpoint that pruning never deletes."""

import json

import pytest

from engines import registry
from engines.families.gan import DCGANConfig, GANEngine as DCGANEngine
from engines.train import events as ev
from engines.train.checkpoint import best_checkpoint, checkpoint_paths, load_checkpoint
from engines.train.loop import Trainer, TrainSettings
from engines.train.restore import load_engine

SCORES = [5.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0]  # validation results in order: the best is the second


class ScoredDCGAN(DCGANEngine):
    """DCGAN with a made-up validation measure, so the test controls which step is best."""
    family = "scored-dcgan"
    best_metric = "score"

    def validate(self, batches):
        list(batches)
        calls = self.__dict__.setdefault("calls", [0])
        calls[0] += 1
        return {"score": SCORES[calls[0] - 1]}


FAMILY = registry.Family("scored-dcgan", "Scored DCGAN", "test only", DCGANConfig, ScoredDCGAN)
SETTINGS = TrainSettings(steps=12, batch_size=4, log_every=2, sample_every=0, checkpoint_every=4,
                         keep_checkpoints=1, validate_every=2, val_fraction=0.2, n_samples=4)
SMALL = DCGANConfig(latent_dim=8, g_width=8, d_width=8)


@pytest.fixture
def scored(monkeypatch):
    monkeypatch.setitem(registry._FAMILIES, "scored-dcgan", f"{__name__}:FAMILY")


def test_best_survives_pruning_and_loads(tmp_path, tiny, scored):
    events = list(Trainer.new("scored-dcgan", SMALL, SETTINGS, tiny, tmp_path / "run").run())
    assert isinstance(events[-1], ev.Finished)
    saved = [e.step for e in events if isinstance(e, ev.CheckpointSaved)]
    assert saved == [2, 4, 8, 12]  # a new best (steps 2, 4) is saved at once, off the usual interval
    assert [s for s, _ in checkpoint_paths(tmp_path / "run")] == [12]  # keep_checkpoints=1
    best = best_checkpoint(tmp_path / "run")
    _, meta = load_checkpoint(best)
    assert meta["step"] == 4 and meta["loop"]["best"] == 3.0 and meta["best_metric"] == "score"
    engine, record = load_engine(tmp_path / "run", checkpoint="best")
    assert record["checkpoint_step"] == 4
    assert load_engine(tmp_path / "run")[1]["checkpoint_step"] == 12


def test_resume_keeps_the_best_and_only_a_better_value_replaces_it(tmp_path, tiny, scored):
    from engines.train.loop import Control

    control = Control()
    for e in Trainer.new("scored-dcgan", SMALL, SETTINGS, tiny, tmp_path / "run").run(control):
        if isinstance(e, ev.Progress) and e.step == 6:
            control.request_stop()
    resumed = Trainer.resume(tmp_path / "run", tiny, steps=14)
    assert resumed.watches.best == 3.0 and resumed.watches.best_step == 4
    list(resumed.run())  # the fresh engine's scores restart at 5.0: never better than 3.0
    assert load_checkpoint(best_checkpoint(tmp_path / "run"))[1]["step"] == 4
    assert len(list((tmp_path / "run" / "checkpoints").glob("best_*.safetensors"))) == 1


def test_a_run_without_a_measure_has_no_best(tmp_path, tiny):
    from engines.train.checkpoint import CheckpointError

    list(Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run").run())
    assert best_checkpoint(tmp_path / "run") is None
    with pytest.raises(CheckpointError, match="no best checkpoint"):
        load_engine(tmp_path / "run", checkpoint="best")
