"""Every registered family keeps the contract: trains, reports losses, samples deterministically,
saves and loads, and resumes exactly (grey and RGB, with and without labels)."""

import json

import numpy as np
from PIL import Image
import pytest
import torch

from engines.families import capabilities
from engines import registry
from engines.config import field_infos, replace_checked
from engines.train import events as ev
from engines.train.loop import Control, Trainer, TrainSettings
from engines.train.checkpoint import latest_checkpoint, load_checkpoint
from engines.train.model_file import save_model
from engines.train.inputs import load_input
from engines.train.restore import load_engine
from tests.helpers import tiny_dataset
from tests.engines.family_cases import SMALL_CONFIG

SETTINGS = TrainSettings(steps=6, batch_size=4, log_every=1, sample_every=0, checkpoint_every=0, n_samples=4,
                         validate_every=3, monitor_every=3, val_fraction=0.2)


def other_inputs(name, data, folder):
    """Values and paths for a family's other required inputs, written as image files like a person's
    (so a resumed run loads them again): image sets get the other channel count (grey <-> RGB)."""
    cls = registry.get(name).engine_class
    values, paths = {}, {}
    for spec in cls.inputs[1:]:
        if not spec.required:
            continue
        where = folder / f"input-{spec.name}"
        other = tiny_dataset(n=12, size=20, channels=4 - data.channels, seed=7)
        if spec.kind == "images":
            where.mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(other.images):
                Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img).save(where / f"{i}.png")
        else:
            where.parent.mkdir(parents=True, exist_ok=True)
            where = where.with_suffix(".png")
            Image.fromarray(np.repeat(other.images[0], 3, -1) if other.channels == 1 else other.images[0]).save(where)
        paths[spec.name] = [str(where)]
        values[spec.name] = load_input(spec, paths[spec.name], data.size)
    return values, paths


def new_trainer(name, config, settings, data, out):
    """Trainer.new with whatever other inputs the family needs, made up next to the run."""
    import tempfile
    from pathlib import Path
    folder = Path(out).parent if out is not None else Path(tempfile.mkdtemp())
    values, paths = other_inputs(name, data, folder)
    return Trainer.new(name, config, settings, data, out, inputs=values, input_paths=paths)


def output(engine, seed):
    """What the model makes: samples, or translations of fixed images for a translator."""
    if capabilities.has(engine, "sample"):
        return engine.sample(3, seed=seed)
    source = engine.channels_of(engine.directions[0])[0]
    images = np.random.default_rng(seed).integers(0, 256, (3, engine.data.size, engine.data.size, source), np.uint8)
    return engine.translate(images, engine.directions[0])


def small_config(name, size=16):
    family = registry.get(name)
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, size)
    return replace_checked(config, **SMALL_CONFIG.get(name, {}))


@pytest.mark.parametrize("name", registry.names())
def test_config_fields_are_described(name):
    for info in field_infos(registry.get(name).config_class):
        assert info.help and info.type in (int, float, bool, str), info.name


@pytest.mark.parametrize("channels, classes", [(1, 0), (3, 3)])
@pytest.mark.parametrize("name", registry.names())
def test_trains_samples_and_reloads(tmp_path, name, channels, classes):
    data = tiny_dataset(n=20, size=16, channels=channels, classes=classes)
    trainer = new_trainer(name, small_config(name), replace_checked(SETTINGS, threads=1), data, tmp_path / "run")
    events = list(trainer.run())
    failed = [e for e in events if isinstance(e, ev.Failed)]
    assert not failed, failed[0].details
    progress = [e for e in events if isinstance(e, ev.Progress)]
    assert len(progress) == SETTINGS.steps and progress[0].losses
    assert all(np.isfinite(v) for p in progress for v in p.losses.values())

    a = output(trainer.engine, 5)
    b = output(trainer.engine, 5)
    assert a.shape[:3] == (3, 16, 16) and a.dtype == np.uint8
    if capabilities.has(trainer.engine, "sample"):
        assert a.shape[3] == channels
    np.testing.assert_array_equal(a, b)

    engine, record = load_engine(tmp_path / "run")
    assert record["checkpoint_step"] == SETTINGS.steps
    np.testing.assert_array_equal(output(engine, 5), a)

    # the exported model file (weights only) samples exactly like the run it came from
    model = save_model(engine, tmp_path / "model.safetensors", record["checkpoint_step"])
    exported, info = load_engine(model)
    assert (info["family"], info["checkpoint_step"]) == (name, SETTINGS.steps)
    assert list(exported.data.class_names) == list(engine.data.class_names)
    np.testing.assert_array_equal(output(exported, 5), a)


def _assert_same_state(a, b, where="engine"):
    """Every tensor and value of two engine states is identical (modules incl. EMA copies,
    optimisers, schedulers, extra state)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same_state(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_state(x, y, f"{where}/{i}")
    else:
        assert a == b or (a != a and b != b), where


@pytest.mark.parametrize("name", registry.names())
def test_resume_is_exact(tmp_path, name):
    """Stopping mid-interval (losses accumulated but not yet logged, validation pending) and
    resuming gives the same logged losses, the same final state and the same samples: data order,
    flips, RNG, optimiser, scheduler, EMA and loss accumulators all carry over. At 2 CPU threads (1 in
    test_trains_samples_and_reloads): both runs repeat exactly with more than one thread too, whatever
    count the test process had when the trainers were made."""
    data = tiny_dataset(n=20, size=16, channels=1, classes=2)
    config = small_config(name)
    settings = replace_checked(SETTINGS, steps=7, log_every=2, flip=True, threads=2)
    straight = new_trainer(name, config, settings, data, tmp_path / "a")
    list(straight.run())
    control = Control()
    first = new_trainer(name, config, settings, data, tmp_path / "b")
    real_step = first.engine.train_step

    def step_then_stop(batch, *args):  # stop after step 3: between two logged steps
        if first.step == 2:
            control.request_stop()
        return real_step(batch, *args)

    first.engine.train_step = step_then_stop
    events = list(first.run(control))
    assert isinstance(events[-1], ev.Finished) and events[-1].step == 3
    resumed = Trainer.resume(tmp_path / "b", data)
    assert resumed.step == 3 and resumed.acc_n == 1
    list(resumed.run())

    def rows(p):
        return [json.loads(line) for line in (p / "metrics.jsonl").read_text().splitlines()]

    assert rows(tmp_path / "b") and [(r["step"], r["losses"], r.get("metrics")) for r in rows(tmp_path / "b")] == \
        [(r["step"], r["losses"], r.get("metrics")) for r in rows(tmp_path / "a")]
    a_state, _ = load_checkpoint(latest_checkpoint(tmp_path / "a"))
    b_state, _ = load_checkpoint(latest_checkpoint(tmp_path / "b"))
    _assert_same_state(a_state["engine"], b_state["engine"])
    np.testing.assert_array_equal(output(straight.engine, 9), output(resumed.engine, 9))


@pytest.mark.parametrize("name", registry.names())
def test_a_non_finite_loss_rolls_back_and_lowers_every_learning_rate(tmp_path, name):
    data = tiny_dataset(n=20, size=16, channels=1, classes=2)
    settings = replace_checked(SETTINGS, checkpoint_every=2, validate_every=0, monitor_every=0)
    straight = new_trainer(name, small_config(name), settings, data, None)
    list(straight.run())  # LR schedulers move the LR: compare with the same steps, unpoisoned
    lrs = [g["lr"] for o in straight.engine.optimizers().values() for g in o.param_groups]
    trainer = new_trainer(name, small_config(name), settings, data, tmp_path / "run")
    real_step, poisoned = trainer.engine.train_step, []

    def poison_step_3(batch, *args):
        losses = real_step(batch, *args)
        if trainer.step == 2 and not poisoned:
            poisoned.append(True)
            losses = {k: float("nan") for k in losses}
        return losses

    trainer.engine.train_step = poison_step_3
    events = list(trainer.run())
    assert isinstance(events[-1], ev.Finished), getattr(events[-1], "details", events[-1])
    assert [(e.kind, e.step) for e in events if isinstance(e, ev.TrainWarning)] == [("rollback", 2)]
    after = [g["lr"] for o in trainer.engine.optimizers().values() for g in o.param_groups]
    assert after == pytest.approx([lr * settings.lr_backoff for lr in lrs])


@pytest.mark.parametrize("name", registry.names())
def test_latent_interface_for_the_explorer(name):
    """What the Latent panel and `genstudio interpolate` call: random latents, decode (with labels for
    conditional runs), and real images placed back in the latent space."""
    import torch

    from engines.families.base import DataSpec
    from engines.latent import latent_support, path, to_latents

    torch.manual_seed(0)
    engine = registry.get(name).engine_class(small_config(name), DataSpec(16, 1, 2, ("a", "b")), "cpu")
    if not capabilities.has(engine, "latent"):
        assert latent_support(engine) is None
        return
    assert latent_support(engine)
    z = engine.random_latents(3, seed=1)
    torch.testing.assert_close(z, engine.random_latents(3, seed=1))
    images = engine.decode(path(z[0], z[1], 3))
    assert images.shape == (3, 16, 16, 1) and images.dtype == np.uint8
    if engine.conditional:
        assert engine.decode(z, labels=torch.tensor([0, 1, 0])).shape == (3, 16, 16, 1)
    back = to_latents(engine, images[:2], steps=5, restarts=1)
    assert back.shape == z[:2].shape
