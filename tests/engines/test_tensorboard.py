"""Every run also writes TensorBoard event files: scalars, sample grids, the config as hparams."""

import json

import pytest

from engines.families.gan import DCGANConfig
from engines.train import events as ev
from engines.train import tensorboard
from engines.train.loop import Control, Trainer, TrainSettings

pytest.importorskip("tensorboardX")

SMALL = DCGANConfig(latent_dim=8, g_width=8, d_width=8)
SETTINGS = TrainSettings(steps=6, batch_size=8, log_every=2, sample_every=3, checkpoint_every=0, n_samples=4)


def _tags(run):
    events = [e for p in sorted(run.glob("events.out.tfevents.*")) for e in tensorboard.read_events(p)]
    return events, {v.tag for e in events for v in e.summary.value}


def test_a_run_writes_scalars_images_and_hparams_that_read_back(tmp_path, tiny):
    run = tmp_path / "run"
    list(Trainer.new("dcgan", SMALL, SETTINGS, tiny, run).run())
    scalars = tensorboard.read_scalars(run)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for name in rows[0]["losses"]:
        assert [s for s, _ in scalars[f"train/{name}"]] == [2, 4, 6]
        assert [v for _, v in scalars[f"train/{name}"]] == pytest.approx([r["losses"][name] for r in rows])
    assert [s for s, _ in scalars["time/train_seconds"]] == [2, 4, 6]
    events, tags = _tags(run)
    images = [(e.step, v.image) for e in events for v in e.summary.value if v.tag == "samples"]
    assert [step for step, _ in images] == [0, 3, 6] and images[0][1].encoded_image_string[:4] == b"\x89PNG"
    assert "_hparams_/session_start_info" in tags
    start = next(v for e in events for v in e.summary.value if v.tag == "_hparams_/session_start_info")
    assert b"config/latent_dim" in start.metadata.plugin_data.content and b"dcgan" in start.metadata.plugin_data.content


def test_a_resumed_run_continues_its_scalars(tmp_path, tiny):
    run = tmp_path / "run"
    control = Control()
    for e in Trainer.new("dcgan", SMALL, SETTINGS, tiny, run).run(control):
        if isinstance(e, ev.Progress) and e.step == 4:
            control.request_stop()
    list(Trainer.resume(run, tiny).run())
    steps = [s for s, _ in tensorboard.read_scalars(run)["train/d_loss"]]
    assert steps == [2, 4, 6]


def test_without_tensorboardx_a_run_trains_and_says_so_once(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(tensorboard, "available", lambda: False)
    events = list(Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run").run())
    warnings = [e for e in events if isinstance(e, ev.TrainWarning) and e.kind == "tensorboard"]
    assert len(warnings) == 1 and "pip install tensorboardX" in warnings[0].message
    assert isinstance(events[-1], ev.Finished) and not list((tmp_path / "run").glob("events.out.tfevents.*"))
