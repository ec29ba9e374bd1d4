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
