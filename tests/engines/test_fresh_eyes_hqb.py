"""Small defects a fresh-eyes pass left (hqb): each test asserts the fixed behaviour."""
import pytest
from PIL import Image

from engines.cli import main


def _images(folder, n=3, size=12):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (size, size), color=(i * 40, 10, 200 - i * 30)).save(folder / f"{i}.png")
    return folder


def test_synthesize_never_writes_into_someone_elses_folder(tmp_path, capsys):
    """`genstudio synthesize RUN --out photos` wrote its class folders into a person's own training images;
    it only asked when a manifest.json was already there."""
    from engines.tools.common import ToolError
    from engines.tools.session import _synthesize

    photos = _images(tmp_path / "photos")
    before = sorted(p.name for p in photos.iterdir())
    # refused before the run is even opened (so no run is needed here), in one line, exit code 2
    assert main(["synthesize", str(tmp_path / "no-run"), "--n-per-class", "1", "--out", str(photos), "--no-cas"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("already holds files and is not a synthesize output (no manifest.json); pick an empty "
                        "or new folder") and len(err.splitlines()) == 1, err
    with pytest.raises(ToolError, match="pick an empty or new folder"):        # the Tools panel's path
        _synthesize(None, {}, {"out": str(photos), "force": True}, None, 0, None)
    assert sorted(p.name for p in photos.iterdir()) == before


def test_synthesize_accepts_a_new_or_empty_folder_or_its_own_earlier_output(tmp_path):
    from engines.tools.synthesize import check_dataset_folder

    check_dataset_folder(tmp_path / "new" / "set")
    (tmp_path / "empty").mkdir()
    check_dataset_folder(tmp_path / "empty")
    earlier = _images(tmp_path / "earlier")
    (earlier / "manifest.json").write_text("{}")
    check_dataset_folder(earlier)     # an earlier output: the manifest/--force question decides


@pytest.mark.parametrize("command", [["sample", "--n", "1", "--out", "x"], ["interpolate", "--a", "1", "--b", "2",
                                     "--out", "x.gif"], ["timelapse", "--out", "x.gif"],
                                     ["stylemix", "--rows", "1", "--cols", "1", "--out", "x.png"]])
def test_every_scale_flag_has_the_same_limit_and_words(tmp_path, capsys, command):
    """`sample --scale` allowed 1-32 but `interpolate --scale` 1-64, each with its own message."""
    from engines.export import MAX_SCALE, ExportError, ExportOptions

    args = [command[0], str(tmp_path / "no-run"), *command[1:-1], str(tmp_path / command[-1])]
    assert main(args + ["--scale", str(MAX_SCALE + 1)]) == 2
    assert capsys.readouterr().err.strip() == f"genstudio: error: --scale must be between 1 and {MAX_SCALE}"
    assert main(args + ["--scale", str(MAX_SCALE)]) == 2            # the limit itself passes: the run is missing
    assert "--scale" not in capsys.readouterr().err
    assert MAX_SCALE == 32
    with pytest.raises(ExportError, match=f"scale must be between 1 and {MAX_SCALE}"):
        ExportOptions(scale=MAX_SCALE + 1).check()
