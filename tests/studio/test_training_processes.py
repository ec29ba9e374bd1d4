"""A run on two processes from the studio: a subprocess (torch.distributed.run, gloo) whose JSON
events drive the same panels as an in-process run; pause, save now and stop reach it through its
control file, and closing the studio stops it cleanly with a checkpoint."""

import json
from pathlib import Path

from studio.process_session import ProcessTrainingSession, train_arguments

from .conftest import configure_tiny_run, load_into


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


def test_the_subprocess_gets_the_studio_settings(window, blob_folder, qtbot, tmp_path):
    from studio.worker import RunRequest
    state = window.state
    load_into(qtbot, window, blob_folder)
    configure_tiny_run(window, steps=7)
    request = RunRequest(state.family_name, state.config, state.settings, state.dataset, tmp_path / "r")
    argv = train_arguments(request, 2, tmp_path / "control")
    assert argv[:2] == ["train", "--family"] and "--nproc-per-node" in argv and "jsonl" in argv
    assert argv[argv.index("--steps") + 1] == "7" and argv[argv.index("--batch-size") + 1] == "8"
    assert "g_width=8" in argv and "log_every=1" in argv and str(blob_folder) in argv
    from engines.cli import build_parser
    args = build_parser().parse_args(argv)  # the CLI accepts every one of them
    assert args.nproc_per_node == 2 and args.events == "jsonl"
