"""`genstudio train --resume` continues the run in --out, and refuses, in one clear line, a run it
cannot continue: another family, changed settings, other data, a checkpoint from elsewhere."""

import json

import pytest
from PIL import Image

from engines.cli import main

SMALL = ["--set", "latent_dim=8", "--set", "g_width=8", "--set", "d_width=8", "--set", "log_every=1",
         "--set", "sample_every=0", "--set", "checkpoint_every=2"]


def _images(folder, size=16, n=12):
    folder.mkdir()
    for i in range(n):
        Image.new("L", (size, size), color=i * 20).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def run(tmp_path):
    imgs = _images(tmp_path / "imgs")
    out = tmp_path / "run"
    assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(out), "--size", "16",
                 "--steps", "4", "--batch-size", "4", "--quiet", *SMALL]) == 0
    return out


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_resume_continues_in_out_to_more_steps(run, capsys):
    assert main(["train", "--out", str(run), "--resume", "--steps", "6", "--quiet"]) == 0
    assert "completed at step 6" in capsys.readouterr().out
    assert [r["step"] for r in _rows(run)] == [1, 2, 3, 4, 5, 6]
    record = json.loads((run / "run.json").read_text())
    assert record["step"] == 6 and record["settings"]["steps"] == 6  # the run list shows 6 / 6


def test_the_same_command_with_resume_appended_continues(run, tmp_path, capsys):
    """Options equal to the run's own are fine: only different values are refused."""
    imgs = tmp_path / "imgs"
    assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(run), "--size", "16",
                 "--steps", "6", "--batch-size", "4", "--seed", "0", "--channels", "1", "--fit", "center-crop",
                 "--quiet", *SMALL, "--set", "lr_g=2e-4", "--resume"]) == 0, capsys.readouterr().err
    assert "completed at step 6" in capsys.readouterr().out
    assert main(["train", "--out", str(run), "--resume", "--set", "steps=8", "--quiet"]) == 0  # --set steps is --steps
    assert json.loads((run / "run.json").read_text())["step"] == 8


def _edit(path, change):
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("args, tamper, message", [
    (["--family", "vae"], None, "is a dcgan run; it cannot be resumed as vae"),
    (["--set", "lr_g=1e-3"], None, "--set lr_g=1e-3 differs from the run's own lr_g=0.0002"),
    (["--size", "32"], None, "--size 32 differs from the run's own size 16"),
    (["--batch-size", "8", "--size", "16"], None, "--batch-size 8 differs from the run's own batch-size 4"),
    (["--set", "checkpoint_every=3"], None, "--set checkpoint_every=3 differs from the run's own checkpoint_every=2"),
    (["--set", "nope=3"], None, "unknown setting 'nope' for dcgan"),
    ([], ("run.json", lambda r: r.update(family="not-a-family")), "unknown family 'not-a-family'"),
    ([], ("run.json", lambda r: r["config"].update(latent_dim=16)),
     "latent_dim: 8 in the checkpoint, 16 in run.json"),
    ([], ("ckpt", lambda r: r.update(family="vae")), "checkpoint is from family 'vae'"),
    ([], ("run.json", lambda r: r.update(format="something-else")), "is not a genstudio run"),
    (["--data", "{other}/a", "--data", "{other}/b"], None, "the data does not match this run (run: 16px, 1 channels, 0 classes"),
])
def test_a_run_that_cannot_be_continued_is_refused_in_one_line(run, tmp_path, capsys, args, tamper, message):
    (tmp_path / "other").mkdir()
    for name in "ab":  # labelled data (two class folders) for an unlabelled run
        _images(tmp_path / "other" / name, size=32)
    other = tmp_path / "other"
    if tamper:
        where, change = tamper
        _edit(run / "run.json" if where == "run.json" else run / "checkpoints" / "step_00000004.json", change)
    before = (run / "metrics.jsonl").read_text()
    capsys.readouterr()
    code = main(["train", "--out", str(run), "--resume", "--steps", "6", "--quiet",
                 *[a.format(other=other) for a in args]])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert (run / "metrics.jsonl").read_text() == before  # refused before touching anything


def test_resume_needs_a_run_folder(tmp_path, capsys):
    assert main(["train", "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(tmp_path)]) == 2
    assert "not a genstudio run folder" in capsys.readouterr().err


def test_a_run_killed_before_its_first_checkpoint_starts_over_cleanly(run):
    import shutil

    shutil.rmtree(run / "checkpoints")
    _edit(run / "run.json", lambda r: r.update(status="running"))
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 0
    assert [r["step"] for r in _rows(run)] == [1, 2, 3, 4]


def test_a_run_being_trained_by_another_live_process_is_not_resumed(run, capsys):
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _edit(run / "run.json", lambda r: r.update(status="running", pid=other.pid))
        assert main(["train", "--out", str(run), "--resume", "--steps", "6", "--quiet"]) == 2
        assert f"being trained right now by process {other.pid}" in capsys.readouterr().err
    finally:
        other.kill()
        other.wait()
    assert main(["train", "--out", str(run), "--resume", "--steps", "6", "--quiet"]) == 0  # once it is gone
