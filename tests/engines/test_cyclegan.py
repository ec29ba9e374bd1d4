"""CycleGAN on two image sets: named inputs end to end, translation, and the CLI's translate."""

import numpy as np
import pytest
from PIL import Image

from engines.cli import main
from engines.families import capabilities
from engines.train.restore import load_engine


def _folders(tmp_path, n=10, size=12):
    rng = np.random.default_rng(0)
    a, b = tmp_path / "A", tmp_path / "B" / "sub"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 80, (size, size), np.uint8)).save(a / f"a{i}.png")
        Image.fromarray(rng.integers(150, 255, (size + 4, size, 3), np.uint8)).save(b / f"b{i}.jpg")
    return a, tmp_path / "B"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cyclegan")
    a, b = _folders(tmp)
    run = tmp / "run"
    assert main(["train", "--family", "cyclegan", "--data", str(a), "--input", f"b={b}", "--size", "16",
                 "--steps", "4", "--batch-size", "2", "--out", str(run), "--quiet",
                 "--set", "width=8", "--set", "d_width=8", "--set", "blocks=1", "--set", "sample_every=2"]) == 0
    return tmp, a, b, run


def test_the_run_records_both_sets_and_draws_translation_grids(trained):
    import json
    tmp, a, b, run = trained
    record = json.loads((run / "run.json").read_text())
    assert record["inputs"]["b"]["kind"] == "images" and record["inputs"]["b"]["data_spec"]["channels"] == 3
    assert record["data_spec"]["channels"] == 1
    grids = sorted((run / "samples").glob("*.png"))
    assert grids
    engine, _ = load_engine(run)
    assert capabilities.of(engine) == ("translate",)
    assert engine.channels_of("a2b") == (1, 3) and engine.channels_of("b2a") == (3, 1)


def test_translate_writes_one_png_per_input_keeping_relative_names(trained, capsys):
    tmp, a, b, run = trained
    out = tmp / "out"
    assert main(["translate", str(run), "--images", str(b), "--out", str(out), "--direction", "b2a"]) == 0
    assert "translated 10 images b2a (16 px, grey)" in capsys.readouterr().out
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == sorted(f"sub/b{i}.png" for i in range(10))
    img = np.asarray(Image.open(out / "sub" / "b0.png"))
    assert img.shape == (16, 16)  # grey: the A domain's channels, at the run's size
    # again without --force: refused before any work, nothing overwritten
    before = (out / "sub" / "b0.png").stat().st_mtime_ns
    assert main(["translate", str(run), "--images", str(b), "--out", str(out), "--direction", "b2a"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "sub" / "b0.png").stat().st_mtime_ns == before


def test_translation_is_deterministic_and_works_from_an_exported_model(trained):
    from engines.train.model_file import save_model
    tmp, a, b, run = trained
    engine, record = load_engine(run)
    x = np.random.default_rng(1).integers(0, 256, (3, 16, 16, 1), np.uint8)
    y = engine.translate(x, "a2b")
    assert y.shape == (3, 16, 16, 3) and y.dtype == np.uint8
    np.testing.assert_array_equal(y, engine.translate(x, "a2b"))
    model = save_model(engine, tmp / "cg.safetensors", record["checkpoint_step"])
    exported, _ = load_engine(model)
    np.testing.assert_array_equal(exported.translate(x, "a2b"), y)


@pytest.mark.parametrize("args, message", [
    (["train", "--family", "cyclegan", "--data", "{a}"], "needs input 'b'"),
    (["train", "--family", "cyclegan", "--data", "{a}", "--input", "c={b}"], "has no input 'c'"),
    (["train", "--family", "cyclegan", "--data", "{a}", "--input", "b={tmp}/missing"], "does not exist"),
    (["train", "--family", "dcgan", "--data", "{a}", "--input", "b={b}"], "dcgan has no input 'b'"),
    (["train", "--family", "cyclegan", "--data", "{a}", "--input", "b"], "NAME=PATH"),
    (["sample", "{run}", "--n", "2", "--out", "{tmp}/s"], "cyclegan has no samples: use Translate"),
    (["interpolate", "{run}", "--a", "1", "--b", "2", "--out", "{tmp}/x.gif"], "no latent space"),
    (["translate", "{run}", "--images", "{a}", "--out", "{tmp}/o", "--direction", "sideways"], "a2b or b2a"),
])
def test_mistakes_are_one_line_and_exit_2(trained, capsys, args, message):
    tmp, a, b, run = trained
    args = [x.format(a=a, b=b, run=run, tmp=tmp) for x in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_translate_refuses_a_family_that_does_not_translate(tmp_path, capsys):
    from tests.helpers import train_tiny_run
    run = train_tiny_run(tmp_path, steps=2)
    assert main(["translate", str(run), "--images", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "translate needs a run of a family that translates" in capsys.readouterr().err


def test_families_lists_inputs_and_capabilities(capsys):
    import json
    assert main(["families", "--json"]) == 0
    fams = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert [(i["name"], i["kind"]) for i in fams["cyclegan"]["inputs"]] == [("data", "images"), ("b", "images")]
    assert fams["cyclegan"]["capabilities"] == ["translate"]
    assert [i["name"] for i in fams["dcgan"]["inputs"]] == ["data"] and "sample" in fams["dcgan"]["capabilities"]
    assert main(["families"]) == 0
    text = capsys.readouterr().out
    assert "--input b=PATH" in text and "can: translate" in text


def test_the_recipe_below_64px_is_a_small_local_generator_at_a_higher_rate():
    from engines import registry
    family = registry.get("cyclegan")
    paper = family.preset(family.config_class(), 64)
    assert (paper.downsample, paper.blocks, paper.lr) == (2, 6, 2e-4)
    for size in (16, 28, 32):
        small = family.preset(family.config_class(), size)
        # full resolution, one block: it cannot move whole digits around; the rate makes a few
        # CPU-minutes enough for the digit to cross (README: CycleGAN on unpaired digits)
        assert (small.downsample, small.blocks, small.width) == (0, 1, 16)
        # one stride-2 layer in D: with two, 28 px digits crossed with inverted colours (README)
        assert small.d_layers == 1
        assert small.lr > paper.lr
    # a preset for 64 px given a config that was preset for a small size gets the paper's rate back
    assert family.preset(family.preset(family.config_class(), 16), 64).lr == 2e-4
