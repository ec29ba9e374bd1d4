"""Runs side by side: facts from the run folders, and measures drawn from the trained models."""

import json
from pathlib import Path

import numpy as np
import pytest

from engines.cli import main
from engines.compare import (RunFacts, at, common_measures, data_key, measure_run, mixed_data_note, run_facts, table)
from engines.data.toy import write_digit_folder


def _train(data, out, family, *sets, steps=6):
    args = ["train", "--family", family, "--data", str(data), "--out", str(out), "--size", "16", "--steps",
            str(steps), "--batch-size", "8", "--quiet", "--set", "log_every=2", "--set", "sample_every=0"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    digits = write_digit_folder(root / "digits", size=16, per_class=12)
    vae = _train(digits, root / "vae", "vae", "latent_dim=4", "width=4", "validate_every=2")
    gan = _train(digits, root / "gan", "dcgan", "latent_dim=8", "g_width=8", "d_width=8")
    return root, digits, vae, gan


def test_facts_come_from_the_run_folder(runs):
    root, digits, vae, gan = runs
    v, g = run_facts(vae), run_facts(gan)
    assert (v.family, v.step, g.family, g.step) == ("vae", 6, "dcgan", 6)
    assert v.train_seconds and v.train_seconds > 0 and v.seconds_per_step == v.train_seconds / 6
    curve = v.curves["val/bits_per_dim"]
    assert curve.shape[1] == 3 and list(curve[:, 0]) == sorted(curve[:, 0]) and np.all(curve[:, 1] > 0)
    assert v.best["val/bits_per_dim"] == curve[:, 2].min() and v.final["val/bits_per_dim"] == curve[-1, 2]
    assert v.data_key == g.data_key and mixed_data_note([v, g]) == ""
    # training losses are curves too (a short run has them before any validation), not table rows
    assert list(g.curves["train/d_loss"][:, 0]) == [2, 4, 6] and "train/d_loss" not in g.best
    names = common_measures([v, g])
    assert names[0].startswith("val/") and names.index("train/d_loss") > names.index("val/bits_per_dim")
    headers, rows = table([v, g])
    assert "bits_per_dim (best)" in headers and len(rows) == 2
    col = headers.index("bits_per_dim (best)")
    assert rows[0][col] == f"≤ {v.best['val/bits_per_dim']:.4g}"  # the ELBO bounds the true value
    assert rows[1][col] == "–"  # a GAN has no likelihood


def test_a_resumed_session_adds_its_time_instead_of_restarting_the_clock(runs, tmp_path):
    root, digits, vae, gan = runs
    import shutil
    run = shutil.copytree(gan, tmp_path / "gan")
    before = run_facts(run).train_seconds
    assert main(["train", "--out", str(run), "--resume", "--steps", "10", "--quiet"]) == 0
    after = run_facts(run)
    assert after.step == 10 and after.train_seconds > before


def test_measuring_samples_gives_speed_and_quality_on_labelled_data(runs):
    root, digits, vae, gan = runs
    features = {}
    said = []
    m = measure_run(vae, n=32, features=features, progress=said.append)
    assert m.parameters > 0 and m.ms_per_image > 0 and m.n == 32 and m.checkpoint_step == 6
    assert m.frechet is not None and m.frechet > 0 and m.num_classes == 10 and 0 <= m.classes_covered <= 10
    assert any("classifier" in s for s in said) and len(features) == 1
    said.clear()
    m2 = measure_run(gan, n=32, features=features, progress=said.append)
    assert not any("classifier" in s for s in said)  # same data: the classifier is trained once
    assert m2.frechet is not None
    # the real images against themselves score near zero: the measure can tell good from bad
    space, name, real, *_ = next(iter(features.values()))
    assert space.frechet(real, real) < 1e-6 < m2.frechet
    # memorisation looks only at what each run trained on: the VAE held a tenth out, the GAN none
    from engines.data.dataset import held_out_indices
    assert m.train_images == len(real) - len(held_out_indices(len(real), 0.1, 0)) < len(real)
    assert m2.train_images == len(real)
    assert "bootstrap" in m2.kid_method and m2.dc_k == 5
    assert m2.features == name and "classifier" in name and "10 classes" in name
    for value in (m2.precision, m2.recall, m2.coverage, m2.memorised):
        assert 0.0 <= value <= 1.0
    assert m2.kid > 0 and m2.kid_std_error > 0 and m2.density >= 0
    assert m2.samples.shape == m2.nearest_images.shape == (16, 16, 16, 1) and m2.flagged.shape == (16,)
    assert m2.train_seconds is not None and m2.train_seconds > 0


def test_measuring_can_be_cancelled(runs):
    from engines.compare import Cancelled
    root, digits, vae, gan = runs
    with pytest.raises(Cancelled):
        measure_run(vae, n=32, cancelled=lambda: True)


def test_cli_prints_a_table_and_json_and_says_when_data_differ(runs, tmp_path, capsys):
    root, digits, vae, gan = runs
    other = write_digit_folder(tmp_path / "other", size=16, per_class=3)
    third = _train(other, tmp_path / "third", "ae", "latent_dim=4", "width=4", steps=2)
    capsys.readouterr()
    assert main(["compare", str(vae), str(gan), str(third)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Run") and "vae" in out and "dcgan" in out
    assert "different datasets" in out
    assert main(["compare", str(vae), str(gan), "--measure", "--n", "16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["family"] for r in data["runs"]] == ["vae", "dcgan"]
    assert all(r["measured"]["ms_per_image"] > 0 for r in data["runs"]) and data["note"] == ""
    for r in data["runs"]:
        m = r["measured"]
        assert {"kid", "kid_std_error", "precision", "recall", "density", "coverage", "memorised"} <= set(m)
        assert "classifier" in m["features"] and "samples" not in m
    assert main(["compare", str(tmp_path)]) == 2
    assert "is not a usable run" in capsys.readouterr().err


def test_data_key_ignores_trailing_slashes_and_order():
    a = {"sources": ["/x/a/", "/x/b"], "size": 16, "channels": 1, "fit": "center-crop", "background": "#ffffff"}
    b = dict(a, sources=["/x/b/", "/x/a"])
    assert data_key(a) == data_key(b) != data_key(dict(a, size=32))


def test_cli_measures_the_other_runs_when_one_cannot_be_measured(runs, tmp_path, capsys):
    import shutil
    root, digits, vae, gan = runs
    bare = tmp_path / "bare"
    shutil.copytree(gan, bare)
    shutil.rmtree(bare / "checkpoints")  # listed, but nothing to sample from
    capsys.readouterr()
    assert main(["compare", str(bare), str(vae), "--measure", "--n", "16", "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert "no checkpoint" in data["runs"][0]["measure_error"] and "measured" not in data["runs"][0]
    assert data["runs"][1]["measured"]["ms_per_image"] > 0
    assert "cannot measure bare" in captured.err


def test_a_run_still_training_counts_the_steps_its_metrics_reached(runs, tmp_path):
    import shutil
    root, digits, vae, gan = runs
    live = tmp_path / "live"
    shutil.copytree(gan, live)
    record = json.loads((live / "run.json").read_text())
    record.update(status="running", step=0)  # what run.json holds between status changes
    (live / "run.json").write_text(json.dumps(record))
    shutil.rmtree(live / "checkpoints")
    facts = run_facts(live)
    assert facts.step == 6 and facts.seconds_per_step is not None


def test_data_without_classes_is_measured_in_random_features_and_copies_count_as_memorised(tmp_path):
    from engines.metrics import memorisation

    folder = tmp_path / "plain"
    folder.mkdir()
    rng = np.random.default_rng(0)
    from PIL import Image
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / f"{i}.png")
    run = _train(folder, tmp_path / "run", "dcgan", "latent_dim=8", "g_width=8", "d_width=8", steps=2)
    features = {}
    m = measure_run(run, n=16, features=features)
    assert "random conv features" in m.features and m.kid is not None and m.classes_covered is None
    space, name, real, real_features, _ = next(iter(features.values()))
    # the training images themselves, measured as if generated: all memorised
    assert memorisation(real_features, space.features(real[:8])).share == 1.0


def test_cli_without_measure_leaves_out_the_columns_no_run_fills_and_says_what_fills_them(runs, capsys):
    """A new user's `genstudio compare A B` printed ~17 columns, most of them a dash in every row."""
    from engines.cli.compare import _filled_columns

    root, digits, vae, gan = runs
    headers, rows, empty = _filled_columns(*table([run_facts(vae), run_facts(gan)]))
    assert {"Fréchet ↓", "KID ↓", "Parameters", "ms / image"} <= set(empty) and "bits_per_dim (best)" in headers
    assert all(any(row[i] != "–" for row in rows) for i in range(len(headers)))
    capsys.readouterr()
    assert main(["compare", str(vae), str(gan)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(h in lines[0] for h in headers) and not any(h in lines[0] for h in empty)
    assert any(line.startswith("note: --measure adds parameters, time per image and sample quality") for line in lines)


def test_a_run_cut_at_a_time_reports_the_latest_row_of_its_last_step():
    """Two measures logged at the same step at different times: the run's time is the later one, so
    runs lined up at equal time never show one past the other (a flake of the Compare panel's test)."""
    loss = np.array([[5, 0.090, 1.0], [6, 0.105, 0.9]])
    held_out = np.array([[6, 0.108, 0.5]])
    f = RunFacts(path=Path("r"), name="r", family="dcgan", status="done", step=6, dataset="", data_key="",
                 train_seconds=0.108, final={}, best={}, curves={"loss": loss, "val/loss": held_out})
    assert (at(f, seconds=0.108).step, at(f, seconds=0.108).train_seconds) == (6, 0.108)
    assert (at(f, seconds=0.106).step, at(f, seconds=0.106).train_seconds) == (6, 0.105)
    assert (at(f, step=5).step, at(f, step=5).train_seconds) == (5, 0.090)
