"""Time budgets: a run stops cleanly at settings.time_limit, counted over sessions, pauses excluded.

The loop's clock (engines.train.loop._now) is replaced by one that moves a fixed second per training
step, so the tests are exact and never sleep.
"""

import json

import pytest
from PIL import Image

from engines.cli import main
from engines.cli.train import parse_duration
from engines.config import ConfigError, replace_checked
from engines.families.gan import DCGANConfig
from engines.train import events as ev
from engines.train import loop
from engines.train.checkpoint import latest_checkpoint, load_checkpoint
from engines.train.loop import Control, Trainer, TrainSettings

SMALL = DCGANConfig(latent_dim=8, g_width=8, d_width=8)
SETTINGS = TrainSettings(steps=100, batch_size=8, log_every=1, sample_every=0, checkpoint_every=0,
                         n_samples=4, time_limit=5.0)


@pytest.fixture
def clock(monkeypatch):
    """A clock that advances one second per training step (and never otherwise)."""
    now = [1000.0, 1.0]  # time, seconds per step
    monkeypatch.setattr(loop, "_now", lambda: now[0])
    original = Trainer._batch

    def batch_and_tick(self, step):
        now[0] += now[1]
        return original(self, step)

    monkeypatch.setattr(Trainer, "_batch", batch_and_tick)
    return now


def test_a_run_stops_at_its_time_budget_with_a_checkpoint(tmp_path, tiny, clock):
    events = list(Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run").run())
    finished = events[-1]
    assert isinstance(finished, ev.Finished) and finished.reason == "time budget" and finished.step == 5
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "finished" and record["step"] == 5
    _, meta = load_checkpoint(latest_checkpoint(tmp_path / "run"))
    assert meta["step"] == 5 and meta["loop"]["train_seconds"] == pytest.approx(5.0)
    started = events[0]
    assert started.time_limit_s == 5.0
    # ETA follows whichever limit comes first: 95 steps left, but only 5 - 2 seconds
    progress = [e for e in events if isinstance(e, ev.Progress)]
    assert progress[1].step == 2 and progress[1].eta_s == pytest.approx(3.0)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_seconds"] for r in rows] == pytest.approx([1, 2, 3, 4, 5])


def test_paused_time_does_not_count(tiny, clock):
    control = Control()
    control.pause()
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, None)
    steps = None
    for e in trainer.run(control):
        if isinstance(e, ev.Paused):
            clock[0] += 1000.0  # a long coffee break
            control.resume()
        if isinstance(e, ev.Finished):
            steps, reason = e.step, e.reason
    assert (steps, reason) == (5, "time budget")


def test_a_resumed_run_continues_the_budget_and_a_larger_one_extends_it(tmp_path, tiny, clock):
    control = Control()
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, tmp_path / "run")
    for e in trainer.run(control):
        if isinstance(e, ev.Progress) and e.step == 3:
            control.request_stop()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "stopped"
    clock[0] += 500.0  # time between sessions is not training time
    resumed = Trainer.resume(tmp_path / "run", tiny)
    assert resumed.train_seconds() == pytest.approx(3.0)
    assert list(resumed.run())[-1] == ev.Finished(5, "time budget")
    again = Trainer.resume(tmp_path / "run", tiny, time_limit=8.0)
    assert list(again.run())[-1] == ev.Finished(8, "time budget")


def test_steps_still_bound_a_run_with_a_time_budget(tiny, clock):
    settings = replace_checked(SETTINGS, steps=3)
    assert list(Trainer.new("dcgan", SMALL, settings, tiny, None).run())[-1] == ev.Finished(3, "completed")


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("1.5h", 5400), ("0", 0), (" 2M ", 120)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "abc", "-5m", "-3s", "-.5h", "10x", "m", "nanm", "infh", "1e20h"])
def test_bad_durations_are_one_line_and_exit_code_2(tmp_path, capsys, text):
    with pytest.raises(ConfigError):
        parse_duration(text)
    assert main(["train", "--family", "dcgan", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                 "--time", text]) == 2
    err = capsys.readouterr().err.strip()
    assert "--time" in err and len(err.splitlines()) == 1
    assert "is not a duration" in err or "longer than" in err  # the duration's own message, not argparse's
    assert not (tmp_path / "run").exists()


def test_time_zero_is_no_limit_not_a_duration_error(tmp_path, capsys):
    assert main(["train", "--family", "dcgan", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                 "--time", "0"]) == 2  # the empty data folder stops it, not the duration
    err = capsys.readouterr().err
    assert "--time" not in err and "usable images" in err


def test_cli_time_budget_stops_the_run(tmp_path, capsys, clock):
    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(16):
        Image.new("L", (16, 16), color=i * 15).save(data / f"{i}.png")
    out = tmp_path / "run"
    assert main(["train", "--family", "dcgan", "--data", str(data), "--out", str(out), "--size", "16",
                 "--steps", "1000", "--batch-size", "4", "--time", "4s", "--set", "latent_dim=8",
                 "--set", "g_width=8", "--set", "d_width=8", "--set", "sample_every=0"]) == 0
    text = capsys.readouterr().out
    assert "or for 0m04s of training time" in text and "time budget reached at step 4" in text
    record = json.loads((out / "run.json").read_text())
    assert record["settings"]["time_limit"] == 4.0 and record["status"] == "finished"


def test_compare_lines_runs_up_at_equal_time_and_at_equal_steps(tmp_path, tiny, clock, capsys):
    from engines.compare import at, checkpoint_at, run_facts
    settings = replace_checked(SETTINGS, steps=8, time_limit=0.0, checkpoint_every=2, keep_checkpoints=10)
    list(Trainer.new("dcgan", SMALL, settings, tiny, tmp_path / "fast").run())
    clock[1] = 3.0  # a family three times slower per step
    list(Trainer.new("dcgan", SMALL, settings, tiny, tmp_path / "slow").run())
    fast, slow = run_facts(tmp_path / "fast"), run_facts(tmp_path / "slow")
    assert (fast.train_seconds, slow.train_seconds) == (8.0, 24.0)
    assert (at(fast, seconds=6).step, at(slow, seconds=6).step) == (6, 2)
    assert at(slow, seconds=6).train_seconds == 6.0 and at(slow, step=4).train_seconds == 12.0
    assert at(fast, step=4).final["train/d_loss"] == fast.curves["train/d_loss"][3, 2]
    assert (checkpoint_at(tmp_path / "fast", seconds=7), checkpoint_at(tmp_path / "slow", seconds=7)) == (6, 2)
    assert checkpoint_at(tmp_path / "slow", seconds=1) is None and checkpoint_at(tmp_path / "slow", step=5) == 4
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "fast"), str(tmp_path / "slow"), "--at-time", "6s", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["step"], r["train_seconds"]) for r in data["runs"]] == [(6, 6.0), (2, 6.0)]
    assert main(["compare", str(tmp_path / "fast"), str(tmp_path / "slow"), "--at-step", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["step"], r["train_seconds"]) for r in data["runs"]] == [(4, 4.0), (4, 12.0)]
    assert main(["compare", str(tmp_path / "fast"), "--at-time", "soon"]) == 2
    assert "--at-time 'soon' is not a duration" in capsys.readouterr().err
