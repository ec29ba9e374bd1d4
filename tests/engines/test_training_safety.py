"""The loop never trains on or saves garbage: non-finite values roll back, repeated ones fail
clearly; out-of-memory and any other exception become a readable Failed event."""

import json
import math
import threading

import pytest
import torch

from engines.config import replace_checked
from engines.families.base import NonFiniteError
from engines.families.gan import DCGANConfig
from engines.train import events as ev
from engines.train.checkpoint import checkpoint_paths, load_checkpoint
from engines.train.loop import Control, Trainer, TrainSettings

SETTINGS = TrainSettings(steps=12, batch_size=8, log_every=1, sample_every=0, checkpoint_every=4,
                         n_samples=4, max_rollbacks=2)
SMALL = DCGANConfig(latent_dim=8, g_width=8, d_width=8)


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _poison(trainer, at_steps, how="loss", once=True):
    """Make the engine misbehave when the loop runs step `s` (1-based) for s in at_steps."""
    real = trainer.engine.train_step
    done = set()

    def step(batch, *args):
        target = trainer.step + 1
        if target in at_steps and not (once and target in done):
            done.add(target)
            if how == "loss":
                return dict(real(batch, *args), g_loss=math.nan)
            if how == "weights":
                out = real(batch, *args)
                with torch.no_grad():
                    next(trainer.engine.G.parameters()).fill_(math.inf)
                return out
            if how == "grad":  # a NaN gradient reaches optimizer_step before the optimiser steps
                p = next(trainer.engine.D.parameters())
                handle = p.register_hook(lambda g: g * math.nan)
                try:
                    return real(batch, *args)
                finally:
                    handle.remove()
            raise AssertionError(how)
        return real(batch, *args)

    trainer.engine.train_step = step


def _lr(trainer):
    return [g["lr"] for o in trainer.engine.optimizers().values() for g in o.param_groups]


@pytest.mark.parametrize("how", ["loss", "weights", "grad"])
def test_a_non_finite_value_rolls_back_lowers_the_lr_and_the_run_finishes(tmp_path, tiny, how):
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run")
    grad_param = next(trainer.engine.D.parameters())
    before = grad_param.detach().clone()
    _poison(trainer, {7}, how)
    events = list(trainer.run())
    assert not [e for e in events if isinstance(e, ev.Failed)]
    warnings = [e for e in events if isinstance(e, ev.TrainWarning) and e.kind == "rollback"]
    # a corrupted weight shows up one step later, as a non-finite loss at step 8
    assert len(warnings) == 1 and warnings[0].step == 4 and "non-finite" in warnings[0].message
    assert isinstance(events[-1], ev.Finished) and events[-1].step == 12
    assert _lr(trainer) == pytest.approx([SMALL.lr_g / 2, SMALL.lr_d / 2])
    assert all(torch.isfinite(p).all() for m in trainer.engine.modules().values() for p in m.parameters())
    assert not torch.equal(before, grad_param)

    rows = _rows(tmp_path / "run")
    steps = [r["step"] for r in rows if "event" not in r]
    assert steps == list(range(1, 13))  # the abandoned steps 5-7 are gone, then 5..12 again
    rollback = [r for r in rows if r.get("event") == "rollback"]
    assert len(rollback) == 1 and rollback[0]["step"] == 4 and rollback[0]["lr_scale"] == 0.5
    # the checkpoint remembers the lowered LR, so a later resume keeps it
    _, meta = load_checkpoint(checkpoint_paths(tmp_path / "run")[-1][1])
    assert meta["loop"]["lr_scale"] == 0.5 and meta["loop"]["rollbacks"] == 1
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "finished"


def test_a_nan_grad_never_reaches_the_weights(tiny):
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, None)
    p = next(trainer.engine.D.parameters())
    p.register_hook(lambda g: g * math.nan)
    with pytest.raises(NonFiniteError):
        trainer.engine.train_step(trainer._batch(0))
    assert torch.isfinite(p).all()


def test_without_a_run_folder_it_rolls_back_to_the_state_in_memory(tiny):
    trainer = Trainer.new("dcgan", SMALL, replace_checked(SETTINGS, checkpoint_every=0), tiny, None)
    _poison(trainer, {3})
    events = list(trainer.run())
    warnings = [e for e in events if isinstance(e, ev.TrainWarning)]
    assert [w.step for w in warnings] == [0] and isinstance(events[-1], ev.Finished)


def test_repeated_non_finite_losses_stop_the_run_as_failed(tmp_path, tiny):
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run")
    _poison(trainer, {6}, once=False)
    events = list(trainer.run())
    assert len([e for e in events if isinstance(e, ev.TrainWarning) and e.kind == "rollback"]) == 2
    failed = events[-1]
    assert isinstance(failed, ev.Failed) and failed.kind == "diverged"
    assert "non-finite" in failed.message and "after 2 rollbacks" in failed.message
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
    assert [s for s, _ in checkpoint_paths(tmp_path / "run")] == [4]  # the good checkpoint is kept
    assert _lr(trainer) == pytest.approx([SMALL.lr_g / 4, SMALL.lr_d / 4])


def test_nan_policy_fail_stops_at_once(tmp_path, tiny):
    trainer = Trainer.new("dcgan", SMALL, replace_checked(SETTINGS, nan_policy="fail"), tiny, tmp_path / "run")
    _poison(trainer, {2})
    events = list(trainer.run())
    assert not [e for e in events if isinstance(e, ev.TrainWarning)]
    assert isinstance(events[-1], ev.Failed) and events[-1].kind == "diverged"


def test_grad_clip_bounds_the_norm_and_reports_the_norm_before_clipping(tiny):
    trainer = Trainer.new("dcgan", SMALL, replace_checked(SETTINGS, grad_clip=1e-3), tiny, None)
    engine = trainer.engine
    assert engine.run_context.grad_clip == 1e-3
    engine.D(trainer._batch(0).float()).sum().backward()
    norm = engine.optimizer_step(torch.optim.SGD(engine.D.parameters(), lr=0.0), engine.D)
    after = torch.nn.utils.get_total_norm([p.grad for p in engine.D.parameters()])
    assert norm > 1e-2 and float(after) == pytest.approx(1e-3, rel=1e-3)


def test_the_person_can_roll_back_to_before_a_finding(tmp_path, tiny):
    settings = replace_checked(SETTINGS, checkpoint_every=2)
    control = Control()
    trainer = Trainer.new("dcgan", SMALL, settings, tiny, tmp_path / "run")
    events = []
    for e in trainer.run(control):
        events.append(e)
        if isinstance(e, ev.Progress) and e.step == 7 and not any(isinstance(x, ev.TrainWarning) for x in events):
            control.request_rollback(before_step=5)
    warning = next(e for e in events if isinstance(e, ev.TrainWarning))
    assert warning.kind == "rollback" and warning.step == 4 and "requested at step 7" in warning.message
    assert "went back to step 4 and lowered the learning rate to 0.5x" in warning.message
    assert isinstance(events[-1], ev.Finished) and events[-1].step == 12
    assert _lr(trainer) == pytest.approx([SMALL.lr_g / 2, SMALL.lr_d / 2])
    assert trainer.safety.rollbacks == 0  # asked for: does not count towards max_rollbacks


def test_save_now_and_rollback_work_while_paused(tmp_path, tiny):
    control = Control()
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run")
    seen = []

    def resume_when_done():
        while not [s for s, _ in checkpoint_paths(tmp_path / "run") if s == 6]:
            threading.Event().wait(0.01)
        control.request_rollback()
        while not any(isinstance(e, ev.TrainWarning) for e in seen):
            threading.Event().wait(0.01)
        control.resume()

    for e in trainer.run(control):
        seen.append(e)
        if isinstance(e, ev.Progress) and e.step == 6 and not any(isinstance(x, ev.Paused) for x in seen):
            control.pause()
            control.request_save()
            threading.Thread(target=resume_when_done, daemon=True).start()
    kinds = [type(e).__name__ for e in seen]
    paused, resumed = kinds.index("Paused"), kinds.index("Resumed")
    between = seen[paused:resumed]
    assert any(isinstance(e, ev.CheckpointSaved) and e.step == 6 for e in between)
    assert any(isinstance(e, ev.TrainWarning) and e.step == 6 for e in between)  # back to the save-now checkpoint
    assert kinds[-1] == "Finished"


def test_stop_finishes_the_current_step_then_checkpoints(tmp_path, tiny):
    control = Control()
    trainer = Trainer.new("dcgan", SMALL, replace_checked(SETTINGS, checkpoint_every=0), tiny, tmp_path / "run")
    real = trainer.engine.train_step

    def step(batch, *args):  # the person clicks Stop while step 5 is running
        if trainer.step == 4:
            control.request_stop()
        return real(batch, *args)

    trainer.engine.train_step = step
    events = list(trainer.run(control))
    assert isinstance(events[-1], ev.Finished) and events[-1].reason == "stopped" and events[-1].step == 5
    assert [s for s, _ in checkpoint_paths(tmp_path / "run")] == [5]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "stopped"


@pytest.mark.parametrize("error, where", [(MemoryError(), "at step 3"),
                                          (torch.OutOfMemoryError("CUDA out of memory"), "at step 3"),
                                          (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried "
                                                        "to allocate 1GB. out of memory"), "at step 3")])
def test_out_of_memory_names_the_batch_size_and_suggests_a_smaller_one(tmp_path, tiny, error, where):
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run")
    real = trainer.engine.train_step

    def step(batch, *args):
        if trainer.step == 2:
            raise error
        return real(batch, *args)

    trainer.engine.train_step = step
    failed = list(trainer.run())[-1]
    assert isinstance(failed, ev.Failed) and failed.kind == "out-of-memory"
    assert failed.message == f"out of memory {where} with batch size 8; try a smaller batch size (for example 4)"
    assert "Traceback" in failed.details
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
    # nothing is left broken: another run trains fine in the same process
    assert isinstance(list(Trainer.new("dcgan", SMALL, replace_checked(SETTINGS, steps=2), tiny, None).run())[-1],
                      ev.Finished)


def test_out_of_memory_while_sampling_says_so(tiny):
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, None)

    def sample(*args, **kwargs):
        raise MemoryError

    trainer.engine.sample = sample
    failed = list(trainer.run())[-1]
    assert isinstance(failed, ev.Failed) and "while making samples with batch size 8" in failed.message


def test_any_exception_becomes_a_readable_failure_with_the_traceback(tmp_path, tiny):
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run")

    def broken_step(batch, *args):
        raise ValueError("shapes do not line up\nsecond line")

    trainer.engine.train_step = broken_step
    events = list(trainer.run())
    failed = events[-1]
    assert isinstance(failed, ev.Failed) and failed.kind == "error" and failed.step == 0
    assert failed.message == "ValueError: shapes do not line up"
    assert "Traceback" in failed.details and "broken_step" in failed.details
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_weights_that_turned_non_finite_are_never_checkpointed(tmp_path, tiny):
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run")
    _poison(trainer, {8}, "weights")  # the loss of step 8 is still finite; the checkpoint at 8 is not
    events = list(trainer.run())
    warning = next(e for e in events if isinstance(e, ev.TrainWarning))
    assert warning.step == 4 and "weights became non-finite" in warning.message
    assert isinstance(events[-1], ev.Finished)
    for _, path in checkpoint_paths(tmp_path / "run"):
        payload, _ = load_checkpoint(path)
        assert all(torch.isfinite(t).all() for t in payload["engine"]["modules"]["generator"].values()
                   if t.is_floating_point())
