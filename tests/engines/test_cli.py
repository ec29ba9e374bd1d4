import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engines import registry
from engines.cli import main
from engines.train.loop import TrainSettings


def _folder(tmp_path, n=20, size=16):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(n):
        Image.new("L", (size, size), color=i * 10).save(folder / f"{i}.png")
    return folder


def test_families_json_lists_dcgan_and_its_fields(capsys):
    assert main(["families", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    dcgan = next(f for f in data if f["name"] == "dcgan")
    assert any(fl["name"] == "latent_dim" and fl["min"] == 2 for fl in dcgan["fields"])


@pytest.mark.parametrize("args, message", [
    (["train", "--family", "nope", "--data", ".", "--out", "x"], "unknown family 'nope'"),
    (["train", "--family", "dcgan", "--data", "{empty}", "--out", "{out}"], "no usable images"),
    (["train", "--family", "dcgan", "--data", "{imgs}", "--out", "{out}", "--set", "lr_g=fast"], "lr_g must be a number"),
    (["train", "--family", "dcgan", "--data", "{imgs}", "--out", "/proc/nope/run"], "cannot write"),
    (["sample", "{out}", "--n", "2", "--out", "{out}"], "not a genstudio run folder"),
    (["train", "--family"], "expected one argument"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    imgs = _folder(tmp_path)
    fill = {"empty": str(tmp_path / "empty"), "imgs": str(imgs), "out": str(tmp_path / "out")}
    assert main([a.format(**fill) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "run.json").exists()


def test_train_then_sample_writes_n_pngs(tmp_path, capsys):
    imgs = _folder(tmp_path)
    out = tmp_path / "run"
    assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(out), "--size", "16",
                 "--steps", "4", "--batch-size", "4", "--set", "latent_dim=8", "--set", "g_width=8",
                 "--set", "d_width=8", "--set", "log_every=2", "--quiet"]) == 0
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and "d_loss" in rows[0]["losses"]
    assert json.loads((out / "run.json").read_text())["config"]["latent_dim"] == 8
    assert main(["sample", str(out), "--n", "3", "--out", str(tmp_path / "s")]) == 0
    files = sorted((tmp_path / "s").glob("*.png"))
    assert len(files) == 3 and Image.open(files[0]).size == (16, 16)
    assert main(["sample", str(out), "--n", "3", "--out", str(tmp_path / "s")]) == 2  # no silent overwrite


def test_train_starts_from_the_family_recipe_for_training_settings_and_explicit_choices_win(tmp_path):
    imgs = _folder(tmp_path)
    small = ["--set", "layers=1", "--set", "hidden=6", "--set", "head=8", "--set", "kernel=3"]
    recipe = registry.default_settings("pixelcnn", 16, TrainSettings())
    assert recipe != TrainSettings()  # pixelcnn's recipe changes the batch size and sampling cadence
    assert main(["train", "--family", "pixelcnn", "--data", str(imgs), "--out", str(tmp_path / "a"), "--size", "16",
                 "--steps", "1", "--quiet", *small]) == 0
    settings = json.loads((tmp_path / "a" / "run.json").read_text())["settings"]
    assert (settings["batch_size"], settings["sample_every"]) == (recipe.batch_size, recipe.sample_every)
    assert main(["train", "--family", "pixelcnn", "--data", str(imgs), "--out", str(tmp_path / "b"), "--size", "16",
                 "--steps", "1", "--quiet", "--batch-size", "4", "--set", "sample_every=7", *small]) == 0
    settings = json.loads((tmp_path / "b" / "run.json").read_text())["settings"]
    assert (settings["batch_size"], settings["sample_every"]) == (4, 7)


def test_the_installed_command_runs_headless():
    exe = Path(sys.executable).parent / "genstudio"
    if not exe.exists():
        pytest.skip("genstudio is not installed in this environment")
    r = subprocess.run([str(exe), "families"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "dcgan" in r.stdout


def test_mistakes_around_an_existing_run_are_one_line_and_exit_code_2(tmp_path, capsys):
    import stat

    from tests.helpers import train_tiny_run

    run = train_tiny_run(tmp_path, steps=2)
    cases = [
        (["sample", str(run), "--n", "1", "--out", str(tmp_path / "s"), "--label", "3"], "not class-conditional"),
        (["interpolate", str(run), "--a", "1", "--b", "2", "--out", "/proc/x.gif"], "cannot write to /proc"),
        (["timelapse", str(run), "--out", "/proc/x.mp4"], "cannot write to /proc"),
        (["train", "--out", str(run), "--resume", "--batch-size", "64"], "--batch-size cannot change a run"),
        (["train", "--out", str(run), "--resume", "--size", "32"], "--size cannot change a run"),
        (["train", "--family", "dcgan", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / "r0"),
          "--size", "0"], "size"),
    ]
    for args, message in cases:
        capsys.readouterr()
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (args, err)
    assert not (tmp_path / "r0" / "run.json").exists()
    out = tmp_path / "m.gif"
    assert main(["interpolate", str(run), "--a", "1", "--b", "2", "--frames", "2", "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # an export is readable by others, like any file
    assert stat.S_IMODE((run / "run.json").stat().st_mode) == 0o644
