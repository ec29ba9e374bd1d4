import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engines.cli import main


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


def test_the_installed_command_runs_headless():
    exe = Path(sys.executable).parent / "genstudio"
    if not exe.exists():
        pytest.skip("genstudio is not installed in this environment")
    r = subprocess.run([str(exe), "families"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "dcgan" in r.stdout
