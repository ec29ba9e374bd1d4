"""A full disk while checkpointing stops the run with a plain sentence (disk full, where, about how
much, the last good checkpoint); a damaged newest checkpoint is skipped, with a warning, by `sample`
and `--resume` (and refused when none is intact)."""

import errno
import json

import pytest
from PIL import Image

from engines.cli import main
from engines.train import checkpoint as ckpt
from engines.train import events as ev
from engines.train.checkpoint import checkpoint_paths, load_checkpoint
from engines.train.loop import Trainer, TrainSettings
from engines.families.gan import DCGANConfig

SMALL = ["--set", "latent_dim=8", "--set", "g_width=8", "--set", "d_width=8", "--set", "sample_every=0",
         "--set", "checkpoint_every=2", "--set", "log_every=1"]


def _full_disk_at(monkeypatch, step):
    real = ckpt.atomic_write_bytes

    def write(path, data):
        if f"step_{step:08d}" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)
    monkeypatch.setattr(ckpt, "atomic_write_bytes", write)


def test_a_full_disk_stops_the_run_plainly_and_keeps_the_last_good_checkpoint(tmp_path, tiny, monkeypatch):
    _full_disk_at(monkeypatch, 4)
    settings = TrainSettings(steps=6, batch_size=4, log_every=1, sample_every=0, checkpoint_every=2, n_samples=4)
    trainer = Trainer.new("dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8), settings, tiny, tmp_path / "run")
    events = list(trainer.run())
    failed = events[-1]
    assert isinstance(failed, ev.Failed) and failed.kind == "disk-full"
    message = failed.message
    assert message.startswith("disk full: could not write the checkpoint of step 4 in ")
    assert str(tmp_path / "run" / "checkpoints") in message and "it needs about" in message and "free" in message
    assert "the last good checkpoint is step 2" in message and "--resume" in message
    assert "OSError" not in message and "Errno" not in message
    assert [s for s, _ in checkpoint_paths(tmp_path / "run")] == [2]
    load_checkpoint(checkpoint_paths(tmp_path / "run")[0][1])  # intact
    assert not list((tmp_path / "run" / "checkpoints").glob("step_00000004*"))  # no litter


def _images(folder, n=12):
    folder.mkdir()
    for i in range(n):
        Image.new("L", (16, 16), color=i * 20).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def run(tmp_path):
    imgs = _images(tmp_path / "imgs")
    out = tmp_path / "run"
    assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(out), "--size", "16",
                 "--steps", "4", "--batch-size", "4", "--quiet", *SMALL]) == 0
    return out


def test_the_command_line_says_disk_full_in_one_line(tmp_path, monkeypatch, capsys):
    imgs = _images(tmp_path / "imgs")
    _full_disk_at(monkeypatch, 2)
    code = main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(tmp_path / "run"), "--size", "16",
                 "--steps", "4", "--batch-size", "4", "--quiet", *SMALL])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith("genstudio: error: disk full: could not write the checkpoint of step 2")
    assert "no checkpoint was saved yet" in err


def _damage(run, step):
    tensors = run / "checkpoints" / f"step_{step:08d}.safetensors"
    blob = bytearray(tensors.read_bytes())
    blob[-10] ^= 0xFF
    tensors.write_bytes(bytes(blob))


def test_sample_falls_back_to_the_newest_intact_checkpoint_with_a_warning(run, tmp_path, capsys):
    assert [s for s, _ in checkpoint_paths(run)] == [2, 4]
    _damage(run, 4)
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "s")]) == 0
    out, err = capsys.readouterr()
    assert "(step 2)" in out
    assert "warning: the checkpoint of step 4 is damaged" in err and "using step 2" in err
    _damage(run, 2)
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no intact checkpoint" in err and "step 4" in err and "step 2" in err and len(err.splitlines()) == 1
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "u"), "--checkpoint", "4"]) == 2
    assert "checksum differs" in capsys.readouterr().err  # one asked for by name is never swapped


def test_resume_falls_back_to_the_newest_intact_checkpoint_with_a_warning(run, capsys):
    _damage(run, 4)
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--steps", "6", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "warning: step 2: the checkpoint of step 4 is damaged" in err
    assert "completed at step 6" in out
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]  # steps 3-4 trained again from step 2
    assert (run / "checkpoints" / "damaged_step_00000004.safetensors").exists()  # set aside, not deleted
    for _, path in checkpoint_paths(run):
        load_checkpoint(path)  # every checkpoint in the timeline is intact now
    _damage(run, 6)
    _damage(run, 4)
    _damage(run, 2)
    assert main(["train", "--out", str(run), "--resume", "--steps", "8", "--quiet"]) == 2
    assert "no intact checkpoint" in capsys.readouterr().err
