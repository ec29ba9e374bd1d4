"""Every family with a held-out measure keeps a best checkpoint that pruning never removes; when the
held-out measure gets worse validation after validation while the training loss falls, the loop
says so with the numbers; tiny datasets and single images get a note when training starts."""

import pytest

from engines import registry
from engines.cli import main
from engines.config import replace_checked
from engines.train import events as ev
from engines.train.checkpoint import best_checkpoint, checkpoint_paths, load_checkpoint
from engines.train.loop import Trainer, TrainSettings
from engines.train.restore import load_engine
from tests.helpers import tiny_dataset


def test_every_family_that_validates_names_its_best_measure():
    from engines.families.base import Engine
    for family in registry.all_families():
        engine_class = family.engine_class
        if family.name == "ebm":  # energies are not comparable across training: no "best"
            continue
        if engine_class.validate is not Engine.validate:
            assert engine_class.best_metric, f"{family.name} validates but keeps no best checkpoint"


def _overfit_run(tmp_path, **changes):
    """An autoencoder on 4 training images (4 held out): the held-out error falls, then rises."""
    config = replace_checked(registry.get("ae").config_class(), latent_dim=16, width=8, lr=3e-3)
    settings = TrainSettings(**{**dict(steps=40, batch_size=4, log_every=5, sample_every=0, checkpoint_every=10,
                                       keep_checkpoints=1, validate_every=5, val_fraction=0.5, n_samples=4,
                                       monitor_every=0), **changes})
    trainer = Trainer.new("ae", config, settings, tiny_dataset(n=8, size=8), tmp_path / "run")
    return trainer, list(trainer.run())


def test_rising_held_out_error_warns_with_numbers_and_the_best_checkpoint_survives(tmp_path):
    trainer, events = _overfit_run(tmp_path)
    assert isinstance(events[-1], ev.Finished)
    metrics = [(e.step, e.values["val/mse"]) for e in events if isinstance(e, ev.Metrics)]
    best_step, best = min(metrics, key=lambda m: m[1])
    (warning,) = [e for e in events if isinstance(e, ev.TrainWarning) and e.kind == "overfitting"]
    rows = [m for m in metrics if m[0] <= warning.step][-4:]
    assert all(b[1] > a[1] for a, b in zip(rows, rows[1:]))  # worse 3 validations in a row, as it says
    assert f"{rows[0][1]:.4g} at step {rows[0][0]}" in warning.message
    assert f"{rows[-1][1]:.4g} at step {rows[-1][0]}" in warning.message
    assert "training recon fell from" in warning.message and "4 training images" in warning.message
    assert f"best checkpoint (step {best_step}" in warning.message or best_step > warning.step
    # the best one is kept although only the newest step checkpoint is (keep_checkpoints=1)
    assert [s for s, _ in checkpoint_paths(tmp_path / "run")] == [40]
    _, meta = load_checkpoint(best_checkpoint(tmp_path / "run"))
    assert meta["step"] == best_step and meta["loop"]["best"] == pytest.approx(best)
    engine, record = load_engine(tmp_path / "run", "best")
    assert record["checkpoint_step"] == best_step


def test_the_watch_can_be_turned_off_and_resumes_exactly(tmp_path):
    _, events = _overfit_run(tmp_path, overfit_patience=0)
    assert not [e for e in events if isinstance(e, ev.TrainWarning) and e.kind == "overfitting"]
    _, meta = load_checkpoint(checkpoint_paths(tmp_path / "run")[-1][1])
    assert len(meta["loop"]["val_history"]) == 1 and "train_since_val" in meta["loop"]


@pytest.mark.parametrize("n, kind", [(1, "single-image"), (40, "small-data")])
def test_tiny_datasets_get_a_note_when_training_starts(tmp_path, n, kind):
    config = replace_checked(registry.get("sngan").config_class(), latent_dim=8, g_width=8, d_width=8)
    settings = TrainSettings(steps=1, batch_size=2, sample_every=0, n_samples=2, monitor_every=0)
    events = list(Trainer.new("sngan", config, settings, tiny_dataset(n=n, size=16), None).run())
    notes = [e for e in events if isinstance(e, (ev.TrainWarning, ev.Note)) and e.kind in ("single-image", "small-data")]
    assert [(e.kind, type(e)) for e in notes] == [(kind, ev.TrainWarning if n == 1 else ev.Note)]
    if kind == "small-data":
        assert notes[0].message.startswith("40 images is a small dataset") and "diffaugment" in notes[0].message
        assert "flip=true" in notes[0].message
    else:
        assert "single image" in notes[0].message


def test_no_note_for_a_few_thousand_images():
    config = replace_checked(registry.get("ae").config_class(), latent_dim=4, width=4)
    settings = TrainSettings(steps=1, batch_size=2, sample_every=0, n_samples=2, monitor_every=0, validate_every=0)
    events = list(Trainer.new("ae", config, settings, tiny_dataset(n=600, size=8), None).run())
    assert not [e for e in events if isinstance(e, (ev.TrainWarning, ev.Note))]


def test_sample_checkpoint_best_works_for_the_vae(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    data = tiny_dataset(n=12, size=16)
    from PIL import Image
    for i, image in enumerate(data.images):
        Image.fromarray(image[..., 0]).save(folder / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--family", "vae", "--data", str(folder), "--out", str(run), "--size", "16", "--steps", "8",
                 "--batch-size", "4", "--set", "latent_dim=4", "--set", "width=4", "--set", "sample_every=0",
                 "--set", "validate_every=4", "--set", "val_fraction=0.25", "--quiet"]) == 0
    assert best_checkpoint(run) is not None
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "s"), "--checkpoint", "best"]) == 0, \
        capsys.readouterr().err
    assert len(list((tmp_path / "s").glob("*.png"))) == 2
