"""Defects a new user met on data nobody tuned for (hqa): each test asserts the fixed behaviour."""
import pytest
from PIL import Image

from engines.cli import main


def _images(folder, n=4, size=12):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (size, size), color=(i * 40, 10, 200 - i * 30)).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("typed, meant", [("lr", "(did you mean lr_g or lr_d?)"), ("lrg", "(did you mean lr_g?)"),
                                          ("flipp", "(did you mean flip?)")])
def test_an_unknown_setting_suggests_the_close_ones(tmp_path, capsys, typed, meant):
    """dcgan has lr_g and lr_d but no lr: `--set lr=1e-3` names them (the family's own before lr_backoff)."""
    imgs = _images(tmp_path / "imgs")
    assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(tmp_path / "run"),
                 "--steps", "1", "--set", f"{typed}=1e-3"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"unknown setting '{typed}' for dcgan {meant}; known: " in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_close_names_guesses_nothing_for_a_far_name():
    from engines.config import close_names, did_you_mean

    assert did_you_mean("learning_rate", ["lr_g", "lr_d", "beta1"]) == ""
    assert close_names("LR-G", ["lr_g", "lr_d"])[0] == "lr_g"
    assert close_names("", ["lr_g"]) == []


def test_several_plain_folders_say_each_became_a_class_and_one_folder_twice_stays_unlabelled(tmp_path, capsys):
    """`genstudio scan A B` on two folders without subfolders made two classes in silence; and the same
    folder given twice made a one-class labelled set where once it is unlabelled."""
    a, b = _images(tmp_path / "apples", n=3), _images(tmp_path / "pears", n=2)
    assert main(["scan", str(a), str(b), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "2 classes" in out and "note: each folder given became one class (2: apples, pears)" in out
    assert "for unlabelled data put the images in one folder" in out
    assert main(["scan", str(a), str(a), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "3 images, unlabelled" in out and "note:" not in out
    assert main(["scan", str(a), "--no-cache"]) == 0
    assert "note:" not in capsys.readouterr().out
