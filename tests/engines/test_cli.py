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
    (["train", "--family", "dcgan", "--data", "{imgs}", "--out", "{out}", "--control", "{empty}"], "is a folder"),
    (["train", "--family", "dcgan", "--data", "{imgs}", "--out", "{out}", "--control", "{empty}/no/c.txt"],
     "does not exist"),
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
        (["interpolate", str(run), "--a", "-3", "--b", "2", "--out", str(tmp_path / "n.gif")], "out of range"),
        (["runs", "--workspace", str(tmp_path / "nowhere")], "does not exist"),
        (["runs", "--workspace", str(run / "run.json")], "is a file, not a folder"),
        (["interpolate", str(run), "--a", "9" * 25, "--b", "2", "--out", str(tmp_path / "n.gif")], "out of range"),
        (["train", "--out", str(run), "--resume", "--batch-size", "64"], "--batch-size 64 differs from the run's own batch-size"),
        (["train", "--out", str(run), "--resume", "--size", "32"], "--size 32 differs from the run's own size"),
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


def test_argument_errors_name_the_subcommand_once(tmp_path, capsys):
    assert main(["train", "--steps", "abc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genstudio: error: train: ") and err.count("genstudio") == 1, err


def test_a_setting_given_twice_is_refused_rather_than_guessed(tmp_path, capsys):
    imgs = _folder(tmp_path)
    out = tmp_path / "run"
    assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(out), "--size", "16",
                 "--steps", "4", "--set", "steps=8"]) == 2
    assert "steps is given twice" in capsys.readouterr().err
    assert not out.exists()
    # Glow's own `steps` (flow steps per level) is another setting: both are taken
    assert main(["train", "--family", "glow", "--data", str(imgs), "--out", str(out), "--size", "16",
                 "--steps", "2", "--set", "steps=1", "--set", "hidden=8", "--quiet"]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["steps"] == 1 and record["settings"]["steps"] == 2


def test_checkpoints_are_chosen_by_step_and_only_from_the_run_itself(tmp_path, capsys):
    from tests.helpers import train_tiny_run

    run = train_tiny_run(tmp_path / "a", steps=4)
    other = train_tiny_run(tmp_path / "b", steps=4)
    steps = sorted(int(p.stem.split("_")[1]) for p in (run / "checkpoints").glob("step_*.json"))
    assert main(["sample", str(run), "--n", "1", "--out", str(tmp_path / "s"), "--checkpoint", str(steps[0])]) == 0
    assert f"(step {steps[0]})" in capsys.readouterr().out
    foreign = sorted((other / "checkpoints").glob("step_*.json"))[-1]
    for checkpoint, message in [(str(foreign), "is not a checkpoint of"), ("999", "no checkpoint at step 999")]:
        assert main(["sample", str(run), "--n", "1", "--out", str(tmp_path / "t"), "--checkpoint", checkpoint]) == 2
        assert message in capsys.readouterr().err
    assert main(["sample", str(run), "--n", "1", "--out", str(tmp_path / "t"), "--seed", "-1"]) == 2
    assert "--seed" in capsys.readouterr().err


def test_sample_force_says_which_older_files_it_left(tmp_path, capsys):
    from tests.helpers import train_tiny_run

    run = train_tiny_run(tmp_path, steps=2)
    out = tmp_path / "s"
    assert main(["sample", str(run), "--n", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "1", "--out", str(out), "--force"]) == 0
    assert "2 other sample_0_*.png files" in capsys.readouterr().out
    assert len(list(out.glob("*.png"))) == 3  # nothing the person did not name is deleted


def test_export_writes_one_model_file_that_samples_like_the_run(tmp_path, capsys):
    from safetensors import safe_open

    from tests.helpers import train_tiny_run

    run = train_tiny_run(tmp_path, steps=4)
    model = tmp_path / "digits.safetensors"
    assert main(["export", str(run), "--out", str(model)]) == 0
    said = capsys.readouterr().out
    assert "dcgan, step 4" in said
    assert f"genstudio sample {model} --n 16" in said    # the path as given, not the bare file name
    with safe_open(str(model), "pt") as f:  # a plain safetensors file other tools can read
        assert json.loads(f.metadata()["genstudio"])["family"] == "dcgan" and len(list(f.keys())) > 0
    ckpt = sorted((run / "checkpoints").glob("*.safetensors"))[-1]
    assert model.stat().st_size < ckpt.stat().st_size  # no optimiser state
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "a")]) == 0
    assert main(["sample", str(model), "--n", "2", "--out", str(tmp_path / "b")]) == 0
    for name in ("sample_0_0000.png", "sample_0_0001.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    capsys.readouterr()
    cases = [
        (["export", str(run), "--out", str(model)], "already exists"),
        (["export", str(run), "--out", str(tmp_path / "m.pt")], "must end in .safetensors"),
        (["export", str(run), "--out", str(tmp_path / "nowhere" / "m.safetensors")], "nowhere does not exist"),
        (["export", str(run), "--out", str(model / "m.safetensors")], "is a file, not a folder"),
        (["export", str(run), "--out", str(tmp_path / "dir.safetensors"), "--force"], "is a folder"),
        (["sample", str(run), "--n", "1", "--out", str(model)], "exists and is not a folder"),
        (["sample", str(model), "--n", "1", "--out", str(tmp_path / "c"), "--checkpoint", "best"], "one set of weights"),
    ]
    (tmp_path / "dir.safetensors").mkdir()
    (tmp_path / "fake.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    cases.append((["sample", str(tmp_path / "fake.safetensors"), "--n", "1", "--out", str(tmp_path / "d")],
                  "not a genstudio model file"))
    for args, message in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (args, err)


def test_training_says_when_it_draws_a_sample_grid(tmp_path, capsys):
    imgs = _folder(tmp_path)
    assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(tmp_path / "run"), "--size", "16",
                 "--steps", "4", "--set", "sample_every=2", "--set", "n_samples=4", "--set", "g_width=8",
                 "--set", "d_width=8", "--set", "latent_dim=8"]) == 0
    drawing = [line for line in capsys.readouterr().out.splitlines() if "drawing 4 sample images" in line]
    assert [line.split()[1] for line in drawing] == ["0", "2", "4"]  # the step each grid belongs to


def test_train_takes_a_cpu_thread_count_and_says_it(tmp_path, capsys):
    import torch

    imgs = _folder(tmp_path)
    before = torch.get_num_threads()
    try:
        assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(tmp_path / "run"),
                     "--size", "16", "--steps", "1", "--batch-size", "4", "--device", "cpu", "--set", "threads=1",
                     "--set", "latent_dim=8", "--set", "g_width=8", "--set", "d_width=8"]) == 0
        assert "on cpu, 1 CPU thread (" in capsys.readouterr().out and torch.get_num_threads() == 1
        assert json.loads((tmp_path / "run" / "run.json").read_text())["settings"]["threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_train_says_when_loose_files_next_to_class_folders_drop_the_labels(tmp_path, capsys):
    """A stray image beside class subfolders makes the set unlabelled; `scan` said so but `train`
    (say of a cgan) went on silently unconditional."""
    data = tmp_path / "data"
    for name in ("a", "b"):
        (data / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (16, 16), color=i * 40).save(data / name / f"{i}.png")
    Image.new("L", (16, 16)).save(data / "stray.png")
    assert main(["train", "--family", "dcgan", "--data", str(data), "--out", str(tmp_path / "run"), "--size", "16",
                 "--steps", "1", "--batch-size", "4", "--set", "n_samples=4", "--set", "g_width=8",
                 "--set", "d_width=8", "--set", "latent_dim=8"]) == 0
    out = capsys.readouterr().out
    assert "unlabelled" in out and "note: loose files next to class folders" in out
