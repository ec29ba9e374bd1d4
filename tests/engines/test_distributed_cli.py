"""`genstudio train --nproc-per-node N`: checked here, then started again under PyTorch's launcher
(torch.distributed.run); events as JSON lines; commands through a control file."""

import json
import subprocess
import sys
import time

import pytest
from PIL import Image

from engines.cli import main
from engines.cli.control import ControlFile
from engines.cli.launch import launch_env, launcher_command, without_flag
from engines.train import events as ev
from engines.train.loop import Control


def _folder(tmp_path, n=24, size=16):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(n):
        Image.new("L", (size, size), color=i * 10).save(folder / f"{i}.png")
    return folder


def test_the_launcher_gets_the_same_arguments_without_the_flag():
    argv = ["train", "--family", "vae", "--nproc-per-node", "2", "--steps", "3", "--nproc-per-node=4"]
    assert without_flag(argv) == ["train", "--family", "vae", "--steps", "3"]
    cmd = launcher_command(["train", "--steps", "3"], 2)
    assert cmd[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m"]
    assert cmd[6:] == ["engines.cli", "train", "--steps", "3"]
    env = launch_env(2, {"PATH": "/bin"})
    assert int(env["OMP_NUM_THREADS"]) >= 1 and env["PYTHONPATH"]


@pytest.mark.parametrize("extra, message", [
    (["--batch-size", "9"], "does not split evenly over 2 processes"),
    (["--size", "8"], "size must be between"),
    (["--nproc-per-node", "0"], "at least 1"),
])
def test_mistakes_are_caught_before_any_process_starts(tmp_path, capsys, extra, message):
    imgs = _folder(tmp_path)
    argv = ["train", "--family", "vae", "--data", str(imgs), "--out", str(tmp_path / "run"), "--nproc-per-node", "2",
            *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_control_file_pauses_saves_and_stops(tmp_path):
    path = tmp_path / "control"
    path.write_text("")
    control = Control()
    reader = ControlFile(path, control)
    with open(path, "a") as f:
        f.write("pause\nsave\nsto")  # the last line is not complete yet
    reader.poll()
    assert control.paused and control.take_save_request() and not control.stop_requested
    with open(path, "a") as f:
        f.write("p\nresume\n")
    reader.poll()
    assert control.stop_requested and not control.paused


def test_events_travel_as_json_lines(tmp_path):
    import numpy as np
    from engines.imaging import make_grid, save_png
    images = np.random.default_rng(0).integers(0, 255, (5, 8, 8, 3), dtype=np.uint8)
    grid = make_grid(images)
    path = save_png(grid, tmp_path / "grid.png")
    back = ev.from_json(json.loads(json.dumps(ev.to_json(ev.Samples(4, images, grid, str(path))))))
    np.testing.assert_array_equal(back.images, images)
    np.testing.assert_array_equal(back.grid, grid)
    failed = ev.Failed(3, "process 1 of 2 failed at step 3: boom", "trace", rank=1)
    assert ev.from_json(json.loads(json.dumps(ev.to_json(failed)))) == failed


def test_nproc_per_node_2_trains_one_run_through_torchrun(tmp_path):
    """The real launcher: two processes, one run folder, every step logged once, JSON events from rank 0."""
    imgs = _folder(tmp_path)
    out = tmp_path / "run"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "engines.cli", "train", "--family", "vae", "--data", str(imgs), "--size", "16",
         "--steps", "4", "--batch-size", "4", "--set", "latent_dim=4", "--set", "width=4", "--set", "log_every=1",
         "--set", "sample_every=0", "--set", "n_samples=4", "--set", "validate_every=0", "--out", str(out),
         "--nproc-per-node", "2", "--events", "jsonl"],
        capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [ev.from_json(json.loads(line)) for line in proc.stdout.splitlines() if line.startswith("{")]
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "Started" and kinds[-1] == "Finished", kinds
    started = events[0]
    assert (started.world_size, started.per_process_batch, started.global_batch) == (2, 2, 4)
    assert [e.step for e in events if isinstance(e, ev.Progress)] == [1, 2, 3, 4]
    samples = [e for e in events if isinstance(e, ev.Samples)]
    assert samples and samples[-1].images.shape == (4, 16, 16, 1)
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and record["distributed"]["world_size"] == 2
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    print(f"two-process launch and training: {time.perf_counter() - t0:.1f}s")
