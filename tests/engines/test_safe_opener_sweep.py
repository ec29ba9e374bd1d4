"""One safe door: every place a person hands in an image (dataset ingest, the tools' inputs and masks,
latent end points, style content and style images) refuses each hostile file of the ingestion tests
with the same one-line reason: an EPS file named .png is refused everywhere, never rendered."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from engines.data import load_images
from engines.data.decode import Refused, load_image
from engines.latent import LatentError, load_image_for
from engines.style.images import Skip, read_image
from engines.tools.common import ToolError, read_images
from engines.tools.inpaint import load_mask
from tests.engines.test_ingest_hostile import build_hostile

# the regular files among the hostile ones (links, folders and hidden files are the folder scan's business)
FILES = ("truncated.jpg", "eps.jpg", "huge.png", "big.png", "notes.png", "empty.png", "badcrc.png",
         "badihdr.png", "doc.pdf", "pipe.png")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    drop, _usable, reasons = build_hostile(root)
    (drop / "cats" / "eps_named.png").write_bytes((drop / "cats" / "eps.jpg").read_bytes())
    reasons = {**reasons, "eps_named.png": "EPS", "pipe.png": "not a regular file"}
    paths = {p.name: p for p in drop.rglob("*") if p.name in reasons}
    return paths, reasons


def _latent(path):
    return load_image_for(SimpleNamespace(data=SimpleNamespace(size=16, channels=3)), path)


def _tools(path):
    got = read_images([path], 16, 3)
    assert len(got) == 0 and len(got.skipped) == 1
    raise ToolError(got.skipped[0][1])


def _ingest(path):
    data = load_images([path], size=16, use_cache=False, allow_empty=True)
    assert len(data) == 0 and len(data.skipped) == 1
    raise ValueError(data.skipped[0].reason)


ENTRY_POINTS = {
    "opener": (load_image, Refused),
    "dataset ingest": (_ingest, ValueError),
    "tool inputs (tools/common.read_images)": (_tools, ToolError),
    "inpainting mask (tools/inpaint.load_mask)": (lambda p: load_mask(p, 16), ToolError),
    "latent end point (latent.load_image_for)": (_latent, LatentError),
    "style content/style image (style/images.read_image)": (read_image, Skip),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_every_entry_point_refuses_every_hostile_file_with_the_same_reason(entry, hostile, recwarn):
    paths, reasons = hostile
    call, error = ENTRY_POINTS[entry]
    for name in (*FILES, "eps_named.png"):
        with pytest.raises(error) as info:
            call(paths[name])
        text = str(info.value)
        assert "\n" not in text.strip(), (entry, name, text)
        assert reasons[name].lower() in text.lower(), (entry, name, text)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_the_opener_keeps_pillows_bomb_check_without_silencing_it(tmp_path):
    from tests.engines.test_ingest_hostile import bomb_png

    (tmp_path / "big.png").write_bytes(bomb_png(10_000, 10_000))   # between Pillow's warning and error
    with pytest.raises(Refused, match="too many pixels"):
        load_image(tmp_path / "big.png", max_pixels=10**12)          # ours is lifted: Pillow's refuses
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        assert not any(f[0] == "ignore" and f[2] is Image.DecompressionBombWarning for f in warnings.filters)
    assert not caught


def test_good_images_open_upright_and_detached(tmp_path):
    img = Image.new("RGB", (30, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6                                           # rotated 90 degrees
    img.save(tmp_path / "r.jpg", exif=exif.tobytes())
    im = load_image(tmp_path / "r.jpg")
    assert im.size == (20, 30)
    assert load_mask(tmp_path / "r.jpg", 16).shape == (16, 16)
    assert read_image(tmp_path / "r.jpg").shape == (30, 20, 3)
    big = tmp_path / "huge_file.png"
    Image.new("L", (8, 8)).save(big)
    with pytest.raises(Refused, match="file too large"):
        load_image(big, max_bytes=10)
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / "r.jpg")), np.asarray(im))


@pytest.mark.parametrize("name", ["huge.png", "big.png", "eps_named.png", "badcrc.png", "truncated.jpg"])
def test_a_shared_runs_sample_grids_go_through_the_opener_too(name, hostile, tmp_path, capsys):
    """A run folder may come from anyone: its sample grids (timelapse, the Runs panel's history) are
    opened by the one safe opener, PNG only: a hostile grid is one line, or a missing thumbnail."""
    from engines.cli import main
    from engines.workspace import read_history
    from tests.helpers import train_tiny_run

    paths, reasons = hostile
    run = train_tiny_run(tmp_path, steps=2)
    grids = sorted((run / "samples").glob("step_*.png"))
    grids[-1].write_bytes(paths[name].read_bytes())
    capsys.readouterr()
    assert main(["timelapse", str(run), "--out", str(tmp_path / "t.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"sample grid {grids[-1]}" in err, err
    assert not (tmp_path / "t.gif").exists()
    history = read_history(run)      # the newest grid is the thumbnail: skipped, the rest still read
    assert history.samples_grid is None and history.losses
