"""Labels from folder layout, several sources, single files, stable order."""

import os

from PIL import Image

from engines.data import load_images
from engines.data.scan import scan


def put(path, colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20), colour).save(path)
    return path


def test_immediate_subfolders_are_classes_and_deeper_folders_belong_to_them(tmp_path):
    put(tmp_path / "cats" / "a.png")
    put(tmp_path / "cats" / "b.png")
    put(tmp_path / "dogs" / "c.png")
    put(tmp_path / "dogs" / "puppies" / "d.png")
    data = load_images([tmp_path], size=16, use_cache=False)
    assert data.class_counts() == {"cats": 2, "dogs": 2}
    assert list(data.labels) == [0, 0, 1, 1]
    assert [os.path.basename(p) for p in data.paths] == ["a.png", "b.png", "c.png", "d.png"]


def test_several_flat_folders_dropped_are_each_a_class(tmp_path):
    put(tmp_path / "apples" / "1.png")
    put(tmp_path / "pears" / "1.png")
    put(tmp_path / "pears" / "2.png")
    data = load_images([tmp_path / "pears", tmp_path / "apples"], size=16, use_cache=False)
    assert data.class_counts() == {"apples": 1, "pears": 2}
    assert list(data.labels) == [1, 1, 0]          # order follows the sources; labels follow sorted names


def test_one_flat_folder_and_single_files_are_unlabelled(tmp_path):
    put(tmp_path / "flat" / "1.png")
    put(tmp_path / "flat" / "2.png")
    single = put(tmp_path / "single.png")
    data = load_images([tmp_path / "flat", single], size=16, use_cache=False)
    assert len(data) == 3 and data.class_names == [] and data.class_counts() == {}


def test_loose_files_next_to_class_folders_make_the_set_unlabelled_with_a_note(tmp_path):
    put(tmp_path / "cats" / "a.png")
    put(tmp_path / "stray.png")
    data = load_images([tmp_path], size=16, use_cache=False)
    assert len(data) == 2 and data.class_names == []
    assert "unlabelled" in data.info["note"]


def test_a_class_whose_files_are_all_broken_does_not_exist(tmp_path):
    put(tmp_path / "cats" / "a.png")
    (tmp_path / "ghosts").mkdir()
    (tmp_path / "ghosts" / "boo.png").write_text("boo")
    data = load_images([tmp_path], size=16, use_cache=False)
    assert data.class_counts() == {"cats": 1}
    assert len(data.skipped) == 1


def test_the_same_folder_dropped_twice_is_read_once(tmp_path):
    put(tmp_path / "a" / "1.png")
    os.symlink(tmp_path / "a", tmp_path / "also_a")
    result = scan([tmp_path / "a", tmp_path / "also_a"])
    assert len(result.candidates) == 1
    assert "already scanned" in result.skipped[0].reason


def test_symlinked_folder_is_followed(tmp_path):
    put(tmp_path / "elsewhere" / "x.png")
    (tmp_path / "drop").mkdir()
    put(tmp_path / "drop" / "y.png")
    os.symlink(tmp_path / "elsewhere", tmp_path / "drop" / "linked")
    result = scan([tmp_path / "drop"])
    assert sorted(os.path.basename(c.path) for c in result.candidates) == ["x.png", "y.png"]


def test_a_cache_inside_the_scanned_folder_is_not_scanned(tmp_path):
    put(tmp_path / "a.png")
    first = load_images([tmp_path], size=16, cache_dir=tmp_path / "cache")
    again = load_images([tmp_path], size=16, cache_dir=tmp_path / "cache")
    assert len(first) == len(again) == 1 and again.info["cache"] == "hit"
    assert [s.reason for s in again.skipped] == ["genstudio's own cache folder (not scanned)"]
