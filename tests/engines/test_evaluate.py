"""genstudio evaluate RUN_DIR --data FOLDER [--json]."""

import json

import numpy as np
import pytest
from PIL import Image

from engines.cli import main
from tests.helpers import tiny_dataset


def _write(folder, images, labels=None, names=None):
    for i, img in enumerate(images):
        out = folder / names[labels[i]] if names else folder
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[..., 0]).save(out / f"{i:03d}.png")
    return folder


def _train(tmp_path, family, data_folder, *extra):
    out = tmp_path / f"run_{family}"
    assert main(["train", "--family", family, "--data", str(data_folder), "--out", str(out), "--size", "16",
                 "--steps", "4", "--batch-size", "4", "--set", "width=4", "--set", "latent_dim=4",
                 "--set", "val_fraction=0", "--quiet", *extra]) == 0
    return out


@pytest.fixture
def digits(tmp_path):
    data = tiny_dataset(n=24, size=16, classes=2)
    return _write(tmp_path / "data", data.images, data.labels, ["a", "b"])


def test_evaluate_prints_bits_per_dim_and_json_agrees(tmp_path, digits, capsys):
    run = _train(tmp_path, "vae", digits)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(digits)]) == 0
    text = capsys.readouterr().out
    assert "bits_per_dim" in text and "upper bound" in text
    assert main(["evaluate", str(run), "--data", str(digits), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["family"] == "vae" and report["images"] == 24 and report["step"] == 4
    assert 0 < report["measures"]["bits_per_dim"] < 9
    value = f"{report['measures']['bits_per_dim']:.4f}"
    assert value in text  # the same figure both ways: evaluation is deterministic


def test_evaluate_preprocesses_like_the_run(tmp_path, digits, capsys):
    run = _train(tmp_path, "vae", digits)
    big = tiny_dataset(n=6, size=40, classes=0)  # other size: resized to the run's 16 px on the way in
    _write(tmp_path / "big", big.images)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "big"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 6


def test_families_without_measures_say_so(tmp_path, digits, capsys):
    out = tmp_path / "gan"
    assert main(["train", "--family", "dcgan", "--data", str(digits), "--out", str(out), "--size", "16",
                 "--steps", "2", "--batch-size", "4", "--set", "latent_dim=4", "--set", "g_width=8",
                 "--set", "d_width=8", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", str(digits)]) == 0
    assert "reports no measures" in capsys.readouterr().out


def test_conditional_runs_need_matching_class_folders(tmp_path, digits, capsys):
    run = _train(tmp_path, "cvae", digits)
    data = tiny_dataset(n=8, size=16, classes=2)
    _write(tmp_path / "other", data.images, data.labels, ["a", "zebra"])
    _write(tmp_path / "flat", data.images)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "other")]) == 2
    assert "'zebra' is not one of the run's classes: a, b" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--data", str(tmp_path / "flat")]) == 2
    assert "class subfolders" in capsys.readouterr().err
    only_b = tmp_path / "only_b"
    _write(only_b, data.images[:3], np.zeros(3, int), ["b"])  # a subset of the classes, matched by name
    assert main(["evaluate", str(run), "--data", str(only_b), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["measures"]["bits_per_dim"] > 0


def test_cvae_run_samples_a_named_label(tmp_path, digits):
    run = _train(tmp_path, "cvae", digits)
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "s"), "--label", "b"]) == 0
    assert len(list((tmp_path / "s").glob("*.png"))) == 2
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "t"), "--label", "nope"]) == 2


def test_evaluate_refuses_what_is_not_a_run(tmp_path, digits, capsys):
    assert main(["evaluate", str(tmp_path), "--data", str(digits)]) == 2
    assert "not a genstudio run folder" in capsys.readouterr().err
