import numpy as np
import pytest

from engines.cli import main
from engines.export import ExportError, export_frames, labelled_grid, read_frames, timelapse_frames
from tests.helpers import train_tiny_run


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(9, 15, 15, 1), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_animations_have_the_right_frame_count_and_size(tmp_path, frames, suffix):
    out = export_frames(frames, tmp_path / f"a{suffix}", fps=8, scale=2)
    back = read_frames(out)
    assert back.shape[0] == 9
    # H.264 wants even sizes: odd frames are padded by one pixel, never shrunk
    assert back.shape[1:3] == ((30, 30) if suffix == ".gif" else (30, 30))


def test_gif_frames_are_the_frames(tmp_path, frames):
    back = read_frames(export_frames(frames, tmp_path / "a.gif"))
    np.testing.assert_array_equal(back[..., 0], frames[..., 0])


def test_png_strip_and_folder(tmp_path, frames):
    strip = read_frames(export_frames(frames, tmp_path / "s.png"))
    assert strip.shape == (1, 15, 15 * 9, 1)
    np.testing.assert_array_equal(strip[0, :, 15:30], frames[1])
    folder = export_frames(frames, tmp_path / "frames")
    assert len(list(folder.glob("frame_*.png"))) == 9


def test_never_overwrites_without_force(tmp_path, frames):
    target = tmp_path / "a.gif"
    target.write_bytes(b"precious")
    with pytest.raises(ExportError, match="already exists"):
        export_frames(frames, target)
    assert target.read_bytes() == b"precious"
    export_frames(frames, target, force=True)
    assert read_frames(target).shape[0] == 9
    with pytest.raises(ExportError, match="unknown format"):
        export_frames(frames, tmp_path / "a.jpgx")
    assert export_frames(frames, tmp_path / "missing" / "a.gif") == tmp_path / "missing" / "a.gif"  # made, like a folder
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ExportError, match="is a folder"):  # an image name that is a folder: never written into
        export_frames(frames, tmp_path / "d.png", force=True)
    assert not any((tmp_path / "d.png").iterdir())


def test_labelled_grid_is_rgb_with_captions(frames):
    grid = labelled_grid(frames[:4], ["a", "b", "c", "d"], columns=2, scale=2)
    assert grid.ndim == 3 and grid.shape[-1] == 3 and grid.shape[0] > 2 * 30


def test_cli_interpolate_and_timelapse(tmp_path, capsys):
    run = train_tiny_run(tmp_path, steps=4)
    out = tmp_path / "morph.gif"
    assert main(["interpolate", str(run), "--a", "1", "--b", "2", "--frames", "5", "--out", str(out),
                 "--scale", "1"]) == 0
    assert read_frames(out).shape == (5, 16, 16, 3)
    capsys.readouterr()
    assert main(["interpolate", str(run), "--a", "1", "--b", "2", "--frames", "5", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["interpolate", str(run), "--a", "1", "--b", "nope.png", "--out", str(tmp_path / "x.gif")]) == 2
    assert "does not exist" in capsys.readouterr().err
    steps, grids = timelapse_frames(run)
    assert steps == [0, 2, 4] and len(grids) == 3
    assert main(["timelapse", str(run), "--out", str(tmp_path / "t.mp4")]) == 0
    assert read_frames(tmp_path / "t.mp4").shape[0] == 3


def _gif_loop(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.info.get("loop")


def test_export_options_scale_resample_loop_and_captions(tmp_path, frames):
    from engines.export import ExportOptions

    forever = export_frames(frames, tmp_path / "forever.gif", **ExportOptions(scale=3).frame_options())
    assert _gif_loop(forever) == 0 and read_frames(forever).shape == (9, 45, 45, 3)
    once = export_frames(frames, tmp_path / "once.gif", loop=1)
    assert _gif_loop(once) is None  # no loop field: viewers play it once
    assert _gif_loop(export_frames(frames, tmp_path / "three.gif", loop=3)) == 2  # the field counts repeats
    smooth = read_frames(export_frames(frames[:1], tmp_path / "b.png", scale=4, resample="bilinear"))
    crisp = read_frames(export_frames(frames[:1], tmp_path / "n.png", scale=4, resample="nearest"))
    assert smooth.shape == crisp.shape == (1, 60, 60, 1) and not np.array_equal(smooth, crisp)
    np.testing.assert_array_equal(crisp[0, ::4, ::4], frames[0])
    # captions: on a grid under each tile, on an animation under each frame
    options = ExportOptions(scale=2, labels=True).frame_options([f"t{i}" for i in range(9)])
    grid = read_frames(export_frames(frames, tmp_path / "g.png", columns=3, **options))
    assert grid.shape == (1, 3 * (30 + 12) + 4 * 2, 3 * 30 + 4 * 2, 3)
    animated = read_frames(export_frames(frames, tmp_path / "c.gif", **options))
    assert animated.shape == (9, 30 + 12, 30, 3)
    assert ExportOptions(labels=False).frame_options(["x"])["labels"] is None
    for bad in (dict(loop=-1), dict(scale=0), dict(resample="cubic"), dict(fps=0)):
        with pytest.raises(ExportError):
            ExportOptions(**bad).check()


def test_cli_export_flags(tmp_path, capsys):
    from PIL import Image

    run = train_tiny_run(tmp_path, steps=4)
    out = tmp_path / "m.gif"
    assert main(["interpolate", str(run), "--a", "1", "--b", "2", "--frames", "4", "--out", str(out),
                 "--scale", "2", "--resample", "bilinear", "--loop", "1", "--fps", "5"]) == 0
    assert read_frames(out).shape == (4, 32, 32, 3) and _gif_loop(out) is None
    with Image.open(out) as im:
        assert im.info["duration"] == 200
    assert main(["timelapse", str(run), "--out", str(tmp_path / "t.gif"), "--labels", "--loop", "2",
                 "--scale", "1"]) == 0
    steps, grids = timelapse_frames(run)
    assert read_frames(tmp_path / "t.gif").shape[:3] == (len(steps), grids.shape[1] + 12, grids.shape[2])
    assert _gif_loop(tmp_path / "t.gif") == 1
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s"), "--scale", "3", "--grid"]) == 0
    assert read_frames(tmp_path / "s" / "sample_0_0000.png").shape == (1, 48, 48, 1)
    assert read_frames(tmp_path / "s" / "grid_0.png").shape == (1, 96, 96, 1)
    capsys.readouterr()
    for args, message in [
        (["timelapse", str(run), "--out", str(tmp_path / "x.gif"), "--loop", "-1"], "loop must be"),
        (["interpolate", str(run), "--a", "1", "--b", "2", "--out", str(tmp_path / "x.gif"), "--labels"],
         "--labels captions"),
        (["interpolate", str(run), "--a", "1", "--b", "2", "--out", str(tmp_path / "x.gif"), "--label-a", "x"],
         "not class-conditional"),
        (["sample", str(run), "--n", "2", "--out", str(tmp_path / "y"), "--labels"], "add --grid"),
        (["sample", str(run), "--n", "2", "--out", str(tmp_path / "y"), "--labels", "--grid"],
         "not class-conditional"),
    ]:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    """A tiny cVAE trained through the CLI on two class folders (dark and light squares)."""
    from tests.helpers import train_tiny_conditional_run

    return train_tiny_conditional_run(tmp_path_factory.mktemp("cvae"))[1]


def test_cli_interpolates_the_class_of_a_conditional_run(conditional_run, tmp_path, capsys):
    from engines.latent import decode_batches, path
    from engines.train.restore import load_engine

    out = tmp_path / "morph.png"
    assert main(["interpolate", str(conditional_run), "--a", "1", "--b", "2", "--frames", "5", "--mode", "lerp",
                 "--label-a", "dark", "--label-b", "light", "--scale", "1", "--out", str(out)]) == 0
    strip = read_frames(out)[0]
    engine, _ = load_engine(conditional_run)
    ends = path(engine.random_latents(1, 1)[0], engine.random_latents(1, 2)[0], 5, "lerp")
    np.testing.assert_array_equal(strip[:, :16], engine.decode(ends[:1], labels=np.array([0]))[0])
    np.testing.assert_array_equal(strip[:, -16:], engine.decode(ends[-1:], labels=np.array([1]))[0])
    # the same class at both ends is what one --label gives
    same = decode_batches(engine, ends, np.full(5, 1))
    assert main(["interpolate", str(conditional_run), "--a", "1", "--b", "2", "--frames", "5", "--mode", "lerp",
                 "--label", "light", "--scale", "1", "--out", str(tmp_path / "same.png")]) == 0
    np.testing.assert_array_equal(read_frames(tmp_path / "same.png")[0], np.concatenate(list(same), axis=1))
    # captions name the class mix under each frame of a labelled strip
    assert main(["interpolate", str(conditional_run), "--a", "1", "--b", "2", "--frames", "3",
                 "--label-a", "dark", "--label-b", "light", "--labels", "--scale", "2",
                 "--out", str(tmp_path / "captioned.png")]) == 0
    assert read_frames(tmp_path / "captioned.png").shape == (1, 32 + 12 + 4, 3 * 32 + 4 * 2, 3)
    assert main(["sample", str(conditional_run), "--n", "4", "--out", str(tmp_path / "s"), "--grid",
                 "--labels"]) == 0
    assert read_frames(tmp_path / "s" / "grid_0.png").shape == (1, 2 * (16 + 12) + 3 * 2, 2 * 16 + 3 * 2, 3)
    capsys.readouterr()
    for args, message in [
        (["--label-a", "cat", "--label-b", "light"], "unknown label 'cat'; known labels: dark, light"),
        (["--label-a", "dark"], "give a class for every end point: --label-b"),
        (["--label-c", "dark"], "--label-c needs --c"),
    ]:
        assert main(["interpolate", str(conditional_run), "--a", "1", "--b", "2", "--frames", "3",
                     "--out", str(tmp_path / "z.gif"), *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_grids_of_a_growing_network_become_frames_of_one_size():
    from engines.export import fit_frames
    small = np.full((10, 10, 1), 200, np.uint8)
    big = np.full((20, 30, 3), 100, np.uint8)
    a, b = fit_frames([small, big])
    assert a.shape == b.shape == (20, 30, 3)
    assert (a[:, 5:25] == 200).all() and (a[:, :5] == 32).all()  # enlarged x2, centred on the background
    np.testing.assert_array_equal(b, big)
