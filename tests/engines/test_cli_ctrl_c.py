"""Ctrl-C or SIGTERM during `genstudio train` stops the run as Stop does: a usable checkpoint, status stopped."""
import json
import os
import signal

import pytest
from PIL import Image

from engines.cli import main
from engines.cli import train as cli_train
from engines.train import events as ev


@pytest.mark.parametrize("signum, word", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "termination")])
def test_a_stop_signal_during_training_saves_a_checkpoint_that_resumes(tmp_path, monkeypatch, capsys,
                                                                       signum, word):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(12):
        Image.new("L", (16, 16), color=i * 20).save(imgs / f"{i}.png")
    out = tmp_path / "run"
    real_print = cli_train.print_events

    def signal_at_first_progress(events, quiet=False):
        def gen():
            sent = False
            for e in events:
                if isinstance(e, ev.Progress) and not sent:
                    sent = True
                    os.kill(os.getpid(), signum)   # what the terminal (Ctrl-C) or `kill` sends
                yield e
        return real_print(gen(), quiet)

    monkeypatch.setattr(cli_train, "print_events", signal_at_first_progress)
    before = signal.getsignal(signum)
    args = ["train", "--family", "dcgan", "--data", str(imgs), "--out", str(out), "--size", "16",
            "--steps", "100000", "--batch-size", "4", "--set", "latent_dim=8", "--set", "g_width=8",
            "--set", "d_width=8", "--set", "log_every=2", "--set", "sample_every=100000"]
    assert main(args) == 128 + signum                          # what a shell expects after the signal
    captured = capsys.readouterr()
    assert word in captured.err and "saving a checkpoint" in captured.err
    assert "stopped at step" in captured.out
    assert signal.getsignal(signum) is before                  # the handler is put back
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "stopped"
    step = int(captured.out.split("stopped at step")[1].split()[0])
    assert 0 < step < 100 and (out / "checkpoints" / f"step_{step:08d}.safetensors").exists()
    monkeypatch.setattr(cli_train, "print_events", real_print)
    assert main(["train", "--out", str(out), "--resume", "--steps", str(step + 2), "--quiet"]) == 0
    assert f"completed at step {step + 2}" in capsys.readouterr().out
