"""--out: a name ending in an image suffix is one image file; any other name is a folder. Nothing is
written into a folder that has an image's name, and nothing existing is overwritten without --force."""

import numpy as np
from PIL import Image

from engines.cli import main
from tests.helpers import train_tiny_run


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_sample_to_an_image_name_writes_one_grid_there(tmp_path, capsys):
    run = train_tiny_run(tmp_path, steps=2)
    capsys.readouterr()
    out = tmp_path / "new" / "deeper" / "x.png"
    assert main(["sample", str(run), "--n", "4", "--out", str(out)]) == 0
    assert out.is_file() and capsys.readouterr().out.startswith(f"wrote a grid of 4 samples (2 across) to {out}")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (32, 32)  # 2x2 tiles of 16 px, no gaps
    folder = tmp_path / "s"
    assert main(["sample", str(run), "--n", "4", "--out", str(folder)]) == 0  # the same draws, one file each
    with Image.open(out) as grid, Image.open(folder / "sample_0_0001.png") as second:
        np.testing.assert_array_equal(np.asarray(grid)[:16, 16:], np.asarray(second))
    one = tmp_path / "one.JPG"
    assert main(["sample", str(run), "--n", "1", "--out", str(one)]) == 0
    assert "wrote 1 sample to" in capsys.readouterr().out
    with Image.open(one) as im:
        assert im.format == "JPEG" and im.size == (16, 16)
    before = out.read_bytes()
    assert main(["sample", str(run), "--n", "4", "--seed", "1", "--out", str(out)]) == 2
    assert "already exists" in _err(capsys) and out.read_bytes() == before
    assert main(["sample", str(run), "--n", "4", "--seed", "1", "--out", str(out), "--force"]) == 0
    assert out.read_bytes() != before


def test_an_image_name_that_is_a_folder_is_refused_and_left_alone(tmp_path, capsys):
    run = train_tiny_run(tmp_path, steps=2)
    folder = tmp_path / "x.png"
    folder.mkdir()
    for args in (["sample", str(run), "--n", "2", "--out", str(folder), "--force"],
                 ["interpolate", str(run), "--a", "1", "--b", "2", "--frames", "2", "--out", str(folder), "--force"]):
        assert main(args) == 2, args
        assert "is a folder" in _err(capsys)
    assert not any(folder.iterdir())
    a_file = tmp_path / "f"
    a_file.write_text("keep")
    assert main(["sample", str(run), "--n", "1", "--out", str(a_file / "x.png")]) == 2
    assert "is a file, not a folder" in _err(capsys) and a_file.read_text() == "keep"


def test_a_tool_writes_one_input_to_an_image_name_and_refuses_several(tmp_path, capsys):
    run = train_tiny_run(tmp_path, steps=2)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        Image.new("L", (16, 16), color=40 + 100 * i).save(src / f"{i}.png")
    out = tmp_path / "filled" / "x.webp"
    base = ["inpaint", str(run), "--box", "0,0,8,16", "--steps", "2", "--no-check", "--candidates", "2"]
    capsys.readouterr()
    assert main(base + ["--images", str(src / "1.png"), "--out", str(out)]) == 0
    assert f"wrote 2 images to {out}, x.c1.webp (" in capsys.readouterr().out  # the files, named
    with Image.open(out) as im, Image.open(out.with_name("x.c1.webp")) as c1:
        assert im.format == c1.format == "WEBP" and im.size == (16, 16)
        assert (np.asarray(im.convert("L"))[:, 8:] == 140).all()  # the known half is kept (lossless)
    capsys.readouterr()
    assert main(base + ["--images", str(src), "--out", str(tmp_path / "y.png")]) == 2
    assert "names one image file, but there are 2 input images" in _err(capsys)
    assert not (tmp_path / "y.png").exists()
    assert main(["synthesize", str(run), "--n-per-class", "1", "--out", str(tmp_path / "set.png"), "--no-cas"]) == 2
    assert "synthesize writes a dataset folder" in _err(capsys) and not (tmp_path / "set.png").exists()


def test_train_refuses_a_new_run_named_like_a_file(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    for i in range(4):
        Image.new("L", (16, 16), color=i * 40).save(tmp_path / "imgs" / f"{i}.png")
    for name, hint in (("model.safetensors", "genstudio export"), ("out.png", "genstudio sample")):
        assert main(["train", "--family", "dcgan", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / name),
                     "--steps", "1"]) == 2
        err = _err(capsys)
        assert "train makes a run folder" in err and hint in err
        assert not (tmp_path / name).exists()
