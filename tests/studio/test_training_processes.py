"""A run on two processes from the studio: a subprocess (torch.distributed.run, gloo) whose JSON
events drive the same panels as an in-process run; pause, save now and stop reach it through its
control file, and closing the studio stops it cleanly with a checkpoint."""

import json
import os
import sys
from pathlib import Path

from studio.process_session import ProcessTrainingSession, train_arguments

from .helpers import configure_tiny_run, load_into


def test_a_two_process_run_streams_into_the_panels_and_stops_cleanly(qtbot, window, blob_folder):
    state = window.state
    load_into(qtbot, window, blob_folder)
    configure_tiny_run(window, steps=5000, sample_every=0)
    training = window.panels["training"]
    training.processes.setValue(2)  # what a person sets in the Training panel
    assert state.processes == 2

    got = []
    state.run_started.connect(got.append)
    state.failed.connect(got.append)
    state.actions.start.trigger()
    assert isinstance(state.session, ProcessTrainingSession)
    qtbot.waitUntil(lambda: bool(got), timeout=180_000)
    event = got[0]
    assert not hasattr(event, "message"), event
    assert (event.world_size, event.per_process_batch, event.global_batch) == (2, 4, 8)
    assert "2 processes" in training.batch_label.text()
    if sys.platform.startswith("linux"):   # the training processes yield their cores to the window
        pid = state.session.worker.process.processId()
        assert os.getpriority(os.PRIO_PROCESS, pid) > os.getpriority(os.PRIO_PROCESS, 0) or \
            os.getpriority(os.PRIO_PROCESS, pid) == 19
    gallery = window.panels["gallery"]
    qtbot.waitUntil(lambda: gallery.latest is not None, timeout=60_000)  # the step-0 grid, from its PNG
    assert gallery.latest.images.shape == (9, 16, 16, 1)

    losses = window.panels["losses"]
    qtbot.waitUntil(lambda: losses.point_count("d_loss") >= 3, timeout=60_000)

    with qtbot.waitSignal(state.paused, timeout=30_000):
        state.pause()
    with qtbot.waitSignal(state.checkpoint, timeout=30_000) as saved:
        state.save_now()
    assert Path(saved.args[0].path).is_file()
    with qtbot.waitSignal(state.resumed, timeout=30_000):
        state.resume()

    run_dir = Path(event.run_dir)
    assert state.shutdown(60_000)  # closing the studio: stop, checkpoint, wait for the processes
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "stopped" and record["distributed"]["world_size"] == 2
    steps = [r["step"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "losses" in r]
    assert steps == sorted(set(steps))  # each step logged once
    assert (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").glob("step_*.json"))


def test_every_front_door_builds_the_same_plan(window, blob_folder, qtbot, tmp_path):
    """The studio's thread (state.plan), its subprocess (the plan as a JSON file for `train --plan`)
    and the CLI given the same choices as flags build one RunPlan."""
    from engines.cli import build_parser
    from engines.cli.train import plan_from_args
    from engines.config import to_dict
    state = window.state
    load_into(qtbot, window, blob_folder)
    configure_tiny_run(window, steps=7)
    thread_plan = state.plan(tmp_path / "r")
    assert thread_plan.settings.steps == 7 and thread_plan.config.g_width == 8 and not thread_plan.resume

    from studio.worker import RunRequest
    argv = train_arguments(RunRequest(thread_plan, state.dataset), 2, tmp_path / "control")
    assert argv[:2] == ["train", "--plan"] and "--nproc-per-node" in argv and "jsonl" in argv
    args = build_parser().parse_args(argv)  # the CLI accepts every one of them
    assert args.nproc_per_node == 2 and args.events == "jsonl"
    subprocess_plan = plan_from_args(args, None)

    d = thread_plan.data
    flags = ["train", "--family", "dcgan", "--out", str(tmp_path / "r"), "--size", str(d.size),
             "--channels", str(d.channels), "--fit", d.fit, "--background", "#%02x%02x%02x" % d.background,
             "--steps", "7", "--batch-size", "8", "--device", "cpu", "--nproc-per-node", "2",
             *[x for s in d.sources for x in ("--data", s)]]
    family_keys = set(to_dict(thread_plan.config))
    defaults = to_dict(type(thread_plan.config)())
    for key, value in to_dict(thread_plan.config).items():
        if value != defaults[key]:   # as a person would: a setting left at its default is not given (the
            flags += ["--set", f"{key}={value}"]   # CLI refuses one that does not apply, e.g. mlp_hidden on conv)
    for key, value in to_dict(thread_plan.settings).items():
        if key not in family_keys | {"steps", "batch_size", "device"}:
            flags += ["--set", f"{key}={value}"]
    cli_plan = plan_from_args(build_parser().parse_args(flags), None)

    from dataclasses import replace
    assert subprocess_plan == replace(thread_plan, processes=2)
    assert cli_plan == subprocess_plan
