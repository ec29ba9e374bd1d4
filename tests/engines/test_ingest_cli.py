"""genstudio scan: the report a person (or a script) reads."""

import json

from PIL import Image

from engines.cli import main


def _drop(tmp_path):
    for cls, colour in (("red", (250, 0, 0)), ("blue", (0, 0, 250))):
        (tmp_path / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (30, 20), colour).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "red" / "oops.jpg").write_bytes(b"")
    return tmp_path


def test_scan_json_reports_counts_classes_and_skips(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_CACHE", str(tmp_path / "cache"))
    drop = _drop(tmp_path / "drop")
    assert main(["scan", str(drop), "--json", "--size", "16", "--channels", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 4 and report["classes"] == {"blue": 2, "red": 2}
    assert report["channels"] == 1 and report["size"] == 16
    assert report["skipped"] == [{"path": str(drop / "red" / "oops.jpg"), "reason": "empty file"}]


def test_scan_text_lists_every_skip_and_exits_0(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_CACHE", str(tmp_path / "cache"))
    drop = _drop(tmp_path / "drop")
    assert main(["scan", str(drop), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "4 images, 2 classes" in out and "oops.jpg: empty file" in out and "class red: 2" in out


def test_scan_with_nothing_usable_still_reports(tmp_path, capsys):
    (tmp_path / "a.png").write_text("text")
    assert main(["scan", str(tmp_path), "--json", "--no-cache"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 0 and report["skipped"][0]["reason"].startswith("not an image")
    assert main(["scan", str(tmp_path), "--no-cache"]) == 0
    assert "no usable images: training on this folder would stop at once" in capsys.readouterr().out


def test_scan_of_a_missing_folder_is_one_line_exit_2(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["scan", str(tmp_path), "--size", "4"]) == 2
