"""A training process killed at any instant (SIGKILL, no clean-up) leaves a loadable checkpoint,
and `genstudio train --resume` carries on from it as if nothing happened.

The training processes are forked from a forkserver that has already imported torch and the
engines, so each kill-and-resume round costs a fraction of a second instead of a fresh interpreter.
"""

import json
import multiprocessing
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from engines.cli import main as genstudio
from engines.train.checkpoint import checkpoint_paths, latest_checkpoint, load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or sys.platform == "win32",
                                reason="needs SIGKILL and a forkserver")


def _newest_step(run):
    paths = checkpoint_paths(run)
    return paths[-1][0] if paths else -1


def _train_until_killed(ctx, argv, run, after_step, delay):
    """Start `genstudio train ...`, wait for a checkpoint past `after_step`, SIGKILL `delay` s later."""
    proc = ctx.Process(target=genstudio, args=(argv,))
    proc.start()
    deadline = time.monotonic() + 60
    while _newest_step(run) <= after_step and proc.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)  # a random moment: with a checkpoint every step, often mid-write
    proc.kill()
    proc.join(30)
    return proc.exitcode


def test_killed_repeatedly_then_resumed_loses_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["engines.cli.train", "engines.families.gan", "torch._dynamo"])
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(12):
        Image.new("L", (16, 16), color=i * 20).save(imgs / f"{i}.png")
    run = tmp_path / "run"
    train = ["train", "--out", str(run), "--quiet"]
    first = ["--family", "dcgan", "--data", str(imgs), "--size", "16", "--batch-size", "4", "--steps", "100000",
             "--set", "latent_dim=8", "--set", "g_width=8", "--set", "d_width=8",
             "--set", "checkpoint_every=1", "--set", "keep_checkpoints=2", "--set", "log_every=1",
             "--set", "sample_every=0"]
    rng = random.Random(4)
    last_step = -1
    for kill in range(7):
        argv = train + (first if kill == 0 else ["--resume"])
        code = _train_until_killed(ctx, argv, run, last_step, rng.uniform(0.0, 0.15))
        assert code == -signal.SIGKILL, f"round {kill}: exit code {code}"
        newest = latest_checkpoint(run)
        payload, meta = load_checkpoint(newest)  # complete and uncorrupted (checksum verified)
        assert meta["step"] > last_step and payload["engine"]["modules"]["generator"]
        last_step = meta["step"]
        assert json.loads((run / "run.json").read_text())["status"] == "running"

    target = last_step + 3
    proc = ctx.Process(target=genstudio, args=(train + ["--resume", "--steps", str(target)],))
    proc.start()
    proc.join(120)
    assert proc.exitcode == 0
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "finished" and record["step"] == target
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, target + 1))  # no gap, no duplicate, no torn line
    assert [s for s, _ in checkpoint_paths(run)] == [target - 1, target]
    assert not list((run / "checkpoints").glob(".*.tmp"))
