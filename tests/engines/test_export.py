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
    with pytest.raises(ExportError, match="does not exist"):
        export_frames(frames, tmp_path / "missing" / "a.gif")


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
