"""Runs live in a workspace and can be found again; broken folders are skipped, never fatal."""

import json
import os
from pathlib import Path
import subprocess
import sys

from PIL import Image

from engines.cli import main
from engines.families.gan import DCGANConfig
from engines.train import events as ev
from engines.train.loop import Trainer, TrainSettings
from engines.workspace import (ENV_VAR, default_workspace, describe_data, list_runs, new_run_dir, runs_folder,
                               scan_runs)

SMALL = DCGANConfig(latent_dim=8, g_width=8, d_width=8)
SETTINGS = TrainSettings(steps=4, batch_size=4, log_every=2, sample_every=2, n_samples=4)


def test_the_workspace_is_the_user_data_folder_unless_the_variable_says_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert "genstudio" in default_workspace().parts
    assert runs_folder().parent == default_workspace() and runs_folder().name == "runs"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "ws"))
    assert default_workspace() == tmp_path / "ws" and runs_folder() == tmp_path / "ws" / "runs"


def test_new_run_dirs_are_fresh_and_distinct(tmp_path):
    a, b = new_run_dir(tmp_path / "ws", "dcgan"), new_run_dir(tmp_path / "ws", "weird/name")
    assert a.parent == b.parent == tmp_path / "ws" / "runs" and a != b and a.is_dir() and b.is_dir() and not any(a.iterdir())
    assert a.name.endswith("-dcgan") and b.name.endswith("-weird-name")


def test_list_runs_summarises_good_runs_and_skips_broken_folders(tmp_path, tiny):
    ws = tmp_path / "ws"
    good = new_run_dir(ws, "dcgan")
    list(Trainer.new("dcgan", SMALL, SETTINGS, tiny, good).run())
    with open(good / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "loss')  # a line torn by a crash
    crashed = new_run_dir(ws, "dcgan")
    list(Trainer.new("dcgan", SMALL, SETTINGS, tiny, crashed).run())
    record = json.loads((crashed / "run.json").read_text())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    # killed after its checkpoint at step 4 but before run.json was brought up to date
    record.update(status="running", pid=int(dead.stdout), created=record["created"] + 1, step=0)
    (crashed / "run.json").write_text(json.dumps(record))
    runs_dir = ws / "runs"
    (runs_dir / "empty").mkdir()
    (runs_dir / "garbled").mkdir()
    (runs_dir / "garbled" / "run.json").write_text("{not json")
    (runs_dir / "foreign").mkdir()
    (runs_dir / "foreign" / "run.json").write_text("[1, 2]")
    (runs_dir / "no-family").mkdir()
    (runs_dir / "no-family" / "run.json").write_text(json.dumps({"format": "genstudio-run/1"}))
    (runs_dir / "stray.txt").write_text("not a folder")

    runs, skipped = scan_runs(ws)
    assert [r.path for r in runs] == [crashed, good]  # newest first
    assert runs[0].status == "interrupted" and runs[1].status == "finished"
    assert runs[0].step == 4  # how far it got is its newest checkpoint, not run.json's stale step
    r = runs[1]
    assert (r.family, r.step, r.total_steps, r.checkpoints) == ("dcgan", 4, 4, 1)
    assert set(r.last_losses) >= {"d_loss", "g_loss"}
    assert r.thumbnail == good / "samples" / "step_00000004.png" and r.thumbnail.is_file()
    assert r.dataset == "<tiny> — 48 images, 16px grey" and r.created and r.device == "cpu"
    reasons = {s.path.name: s.reason for s in skipped}
    assert reasons == {"empty": "no run.json", "garbled": "run.json is unreadable (JSONDecodeError)",
                       "foreign": "run.json is not a genstudio run", "no-family": "run.json names no family"}
    assert list_runs(ws) == runs == list_runs(runs_dir)  # the runs folder itself works too
    assert list_runs(tmp_path / "missing") == []


def test_describe_data():
    assert describe_data({"sources": ["/a/digits/", "/b/more"], "images": 1797, "classes": {"0": 1, "1": 2},
                          "size": 16, "channels": 3}) == "digits +1 more — 1,797 images, 2 classes, 16px RGB"
    assert describe_data({}) == "unknown data"


def test_genstudio_runs_lists_the_workspace(tmp_path, monkeypatch, capsys):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(8):
        Image.new("L", (16, 16), color=i * 30).save(imgs / f"{i}.png")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "ws"))
    assert main(["train", "--family", "dcgan", "--data", str(imgs), "--size", "16", "--steps", "2",
                 "--batch-size", "4", "--set", "latent_dim=8", "--set", "g_width=8", "--set", "d_width=8"]) == 0
    assert "run folder: " + str(tmp_path / "ws" / "runs") in capsys.readouterr().out
    (tmp_path / "ws" / "runs" / "junk").mkdir()

    assert main(["runs", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["family"] for r in data["runs"]] == ["dcgan"] and data["runs"][0]["step"] == 2
    assert data["runs"][0]["thumbnail"].endswith(".png") and data["skipped"][0]["reason"] == "no run.json"

    assert main(["runs", "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr()
    assert "dcgan  finished  step 2/2" in out.out and "imgs — 8 images" in out.out
    assert "skipped" in out.err and "junk" in out.err
    (tmp_path / "empty").mkdir()
    assert main(["runs", "--workspace", str(tmp_path / "empty")]) == 0
    assert "no runs in" in capsys.readouterr().out
    assert main(["runs", "--workspace", str(tmp_path / "nothing")]) == 2  # a mistyped folder is named
    assert "does not exist" in capsys.readouterr().err


def test_read_history_gives_curves_settings_and_the_latest_samples(tmp_path, tiny):
    import numpy as np

    from engines.imaging import make_grid
    from engines.imaging import split_grid
    from engines.workspace import read_history

    images = np.random.default_rng(0).integers(0, 256, (7, 5, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(split_grid(make_grid(images), 7, 5), images)

    run = new_run_dir(tmp_path, "dcgan")
    trainer = Trainer.new("dcgan", SMALL, SETTINGS, tiny, run)
    events = list(trainer.run())
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 9, "event": "rollback", "losses": {}}\n{"torn')
    history = read_history(run)
    assert Path(history) == run  # stands for its folder where a path is expected
    assert history.family == "dcgan" and history.config["latent_dim"] == 8 and history.settings["steps"] == 4
    assert [s for s, _ in history.losses] == [2, 4] and "d_loss" in history.losses[0][1]
    assert [r["step"] for r in history.rollbacks] == [9]
    last = [e for e in events if isinstance(e, ev.Samples)][-1]
    assert history.samples_step == 4
    np.testing.assert_array_equal(history.samples, last.images)
    np.testing.assert_array_equal(history.samples_grid, last.grid)
