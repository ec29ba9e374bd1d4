"""The feed-forward `style` family (Johnson et al.): the style image as a named input, training,
stylising any size, the preview pairs, and a run or exported model that reloads alone."""

import numpy as np
import pytest
import torch
from PIL import Image

from engines import registry
from engines.cli import main
from engines.config import ConfigError, replace_checked
from engines.families.base import Batch, DataSpec
from engines.style.texture import texture
from engines.train import events as ev
from engines.train.loop import Trainer, TrainSettings
from engines.train.model_file import save_model
from engines.train.restore import load_engine
from tests.helpers import tiny_dataset

SMALL = {"width": 4, "res_blocks": 1}
SETTINGS = TrainSettings(steps=4, batch_size=4, log_every=1, sample_every=2, checkpoint_every=0, n_samples=4,
                         val_fraction=0.0, validate_every=0)


def _config(**kw):
    return replace_checked(registry.get("style").config_class(), **{**SMALL, **kw})


def _engine(channels=1, **kw):
    cls = registry.get("style").engine_class
    torch.manual_seed(0)
    return cls(_config(**kw), DataSpec(16, channels), "cpu", inputs={"style": texture(40, 1)})


def test_the_style_input_is_kept_and_training_lowers_the_style_loss():
    engine = _engine(lr=5e-3)
    assert engine.style_image.shape == (32, 32, 3) and engine.style_image.std() > 20
    data = tiny_dataset(n=8, size=16, channels=1)
    batch = Batch(torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous(), torch.zeros(8, dtype=torch.long))
    first = engine.train_step(batch, 0, 15)
    for step in range(1, 15):
        last = engine.train_step(batch, step, 15)
    assert set(first) >= {"loss", "content", "style", "tv"}
    assert last["style"] < first["style"]


def test_stylises_any_size_grey_or_rgb_into_rgb_the_same_way_twice():
    engine = _engine()
    grey = np.random.default_rng(0).integers(0, 255, (2, 21, 30, 1), dtype=np.uint8)
    out = engine.translate(grey)
    assert out.shape == (2, 21, 30, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, engine.translate(grey))
    np.testing.assert_array_equal(out[1:], engine.translate(grey[1:]))     # alone or in a batch: the same
    assert engine.translate(np.repeat(grey, 3, axis=-1)).shape == (2, 21, 30, 3)
    with pytest.raises(ConfigError, match="one way"):
        engine.translate(grey, "b2a")


def test_without_a_style_image_training_says_what_to_give(tmp_path, capsys):
    cls = registry.get("style").engine_class
    engine = cls(_config(), DataSpec(16, 1), "cpu")
    batch = Batch(torch.zeros(2, 1, 16, 16, dtype=torch.uint8), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ConfigError, match="needs a style image: --input style=IMAGE"):
        engine.train_step(batch, 0, 1)
    folder = _content_folder(tmp_path)
    assert main(["train", "--family", "style", "--data", str(folder), "--out", str(tmp_path / "r"),
                 "--size", "16", "--steps", "1"]) == 2
    assert "needs input 'style'" in capsys.readouterr().err


def _style_input(tmp_path, seed):
    """Trainer.new's inputs and input_paths for a style image written to a file, as the CLI gives them."""
    path = tmp_path / f"style{seed}.png"
    Image.fromarray(texture(16, seed)).save(path)
    return {"inputs": {"style": texture(16, seed)}, "input_paths": {"style": [str(path)]}}


def _content_folder(tmp_path):
    folder = tmp_path / "content"
    folder.mkdir()
    for i, img in enumerate(tiny_dataset(n=8, size=16, channels=1).images):
        Image.fromarray(img[..., 0]).save(folder / f"{i}.png")
    return folder


def test_a_run_previews_pairs_and_reloads_alone_from_its_checkpoint_and_export(tmp_path):
    data = tiny_dataset(n=12, size=16, channels=1)
    trainer = Trainer.new("style", _config(), SETTINGS, data, tmp_path / "run", **_style_input(tmp_path, 3))
    events = list(trainer.run())
    assert not [e for e in events if isinstance(e, ev.Failed)]
    grids = [e for e in events if isinstance(e, ev.Samples)]
    assert grids and grids[-1].images.shape == (4, 16, 16, 3)
    pairs = grids[-1].images
    # left of each pair: the fixed content image (grey as RGB); right: its stylisation
    assert np.array_equal(pairs[0][..., 0], pairs[0][..., 1])          # the content, grey
    assert not np.array_equal(pairs[1][..., 0], pairs[1][..., 1])      # the stylised one has colour
    probe = np.random.default_rng(1).integers(0, 255, (3, 24, 24, 1), dtype=np.uint8)
    expected = trainer.engine.translate(probe)

    engine, record = load_engine(tmp_path / "run")         # no style input given: it comes from the run
    np.testing.assert_array_equal(engine.style_image, trainer.engine.style_image)
    np.testing.assert_array_equal(engine.translate(probe), expected)
    exported, _ = load_engine(save_model(engine, tmp_path / "style.safetensors", record["checkpoint_step"]))
    np.testing.assert_array_equal(exported.translate(probe), expected)


def test_resume_continues_exactly(tmp_path):
    data = tiny_dataset(n=12, size=16, channels=1)
    settings = replace_checked(SETTINGS, steps=4, checkpoint_every=2)
    style = _style_input(tmp_path, 0)
    straight = Trainer.new("style", _config(), settings, data, tmp_path / "a", **style)
    list(straight.run())
    half = Trainer.new("style", _config(), replace_checked(settings, steps=2), data, tmp_path / "b", **style)
    list(half.run())
    resumed = Trainer.resume(tmp_path / "b", data, steps=4)   # loads the style input again from its file
    list(resumed.run())
    probe = np.random.default_rng(2).integers(0, 255, (2, 16, 16, 1), dtype=np.uint8)
    np.testing.assert_array_equal(straight.engine.translate(probe), resumed.engine.translate(probe))


def test_train_resume_and_translate_from_the_command_line(tmp_path, capsys):
    folder = _content_folder(tmp_path)
    Image.fromarray(texture(48, 2)).save(tmp_path / "style.png")
    run = tmp_path / "run"
    args = ["train", "--family", "style", "--data", str(folder), "--out", str(run), "--size", "16",
            "--steps", "2", "--batch-size", "4", "--set", "width=4", "--set", "res_blocks=1",
            "--input", f"style={tmp_path / 'style.png'}", "--quiet"]
    assert main(args) == 0
    engine, _ = load_engine(run)
    assert engine.style_image.shape == (32, 32, 3) and engine.style_image.std() > 20
    # the run reloads its style input by itself when continued
    assert main(["train", "--out", str(run), "--resume", "--steps", "3", "--quiet"]) == 0
    from engines.cli import COMMANDS
    if "translate" in COMMANDS:
        out = tmp_path / "styled"
        assert main(["translate", str(run), "--images", str(folder), "--out", str(out)]) == 0
        written = sorted(out.glob("*.png"))
        assert len(written) == 8 and Image.open(written[0]).mode == "RGB"
        assert "stylised 8 images (16 px, RGB)" in capsys.readouterr().out
