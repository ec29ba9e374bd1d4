"""The milestones from the command line: train, sample with truncation, interpolate in W or Z,
style-mixing grids."""

import numpy as np
import pytest
from PIL import Image

from engines.cli import main
from engines.data.toy import write_digit_folder
from tests.engines.family_cases import SMALL_CONFIG


@pytest.fixture(scope="module")
def stylegan_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sg")
    folder = write_digit_folder(tmp / "digits", size=16, per_class=1)
    small = [a for k, v in SMALL_CONFIG["stylegan"].items() for a in ("--set", f"{k}={v}")]
    out = tmp / "run"
    assert main(["train", "--family", "stylegan", "--data", str(folder), "--out", str(out), "--size", "16",
                 "--steps", "3", "--batch-size", "4", "--quiet", *small]) == 0
    return out


def test_stylemix_writes_the_grid_and_refuses_bad_requests(stylegan_run, tmp_path, capsys):
    png = tmp_path / "mix.png"
    assert main(["stylemix", str(stylegan_run), "--rows", "1,2", "--cols", "3,4,5", "--levels", "coarse",
                 "--out", str(png), "--scale", "2", "--set", "truncation=0.7"]) == 0
    assert Image.open(png).size == (4 * 16 * 2, 3 * 16 * 2)
    assert main(["stylemix", str(stylegan_run), "--rows", "1", "--cols", "2", "--levels", "all",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "level must be one of coarse, middle, fine" in capsys.readouterr().err
    assert main(["stylemix", str(stylegan_run), "--rows", "a", "--cols", "2", "--out", str(tmp_path / "y.png")]) == 2
    assert main(["stylemix", str(stylegan_run), "--rows", "1", "--cols", "2", "--out", str(png)]) == 2  # exists
    assert main(["stylemix", str(stylegan_run), "--rows", "1", "--cols", "2", "--set", "truncation=2",
                 "--out", str(tmp_path / "z.png")]) == 2


def test_sample_with_truncation_and_interpolate_in_w_and_z(stylegan_run, tmp_path, capsys):
    assert main(["sample", str(stylegan_run), "--n", "2", "--out", str(tmp_path / "s"), "--set", "truncation=0.5"]) == 0
    assert len(list((tmp_path / "s").glob("*.png"))) == 2
    strips = {}
    for space in ("w", "z"):
        out = tmp_path / f"{space}.png"
        assert main(["interpolate", str(stylegan_run), "--a", "1", "--b", "2", "--frames", "4", "--space", space,
                     "--scale", "1", "--out", str(out)]) == 0
        strips[space] = np.asarray(Image.open(out))
    # the same end points, different paths between them
    assert strips["w"].shape == strips["z"].shape == (16, 64)
    np.testing.assert_array_equal(strips["w"][:, :16], strips["z"][:, :16])
    assert not np.array_equal(strips["w"][:, 16:48], strips["z"][:, 16:48])


def test_space_is_refused_for_families_with_one_latent_space(tmp_path, capsys):
    folder = write_digit_folder(tmp_path / "digits", size=16, per_class=1)
    small = [a for k, v in SMALL_CONFIG["biggan"].items() for a in ("--set", f"{k}={v}")]
    out = tmp_path / "run"
    assert main(["train", "--family", "biggan", "--data", str(folder), "--out", str(out), "--size", "16",
                 "--steps", "2", "--batch-size", "4", "--quiet", *small]) == 0
    assert main(["interpolate", str(out), "--a", "1", "--b", "2", "--frames", "3", "--space", "z",
                 "--out", str(tmp_path / "i.png")]) == 2
    assert "--space is for" in capsys.readouterr().err
    assert main(["stylemix", str(out), "--rows", "1", "--cols", "2", "--out", str(tmp_path / "m.png")]) == 2
    assert "style mixing needs a stylegan run" in capsys.readouterr().err
    assert main(["sample", str(out), "--n", "2", "--out", str(tmp_path / "s"), "--set", "truncation=0.5",
                 "--label", "3"]) == 0
