"""The on-disk cache: hits are memory-mapped, changes are noticed, damage is rebuilt, cancel is clean."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from engines.data import IngestCancelled, load_images
from engines.data import decode as decode_module


def put(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 20), (value, 255 - value, 7)).save(path)


@pytest.fixture
def folder(tmp_path):
    for i in range(6):
        put(tmp_path / "imgs" / f"{i}.png", i * 40)
    (tmp_path / "imgs" / "bad.png").write_text("not a picture")
    return tmp_path / "imgs"


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def slot_dir(cache):
    (slot,) = list((cache / "ingest").iterdir())
    return slot


def count_decodes(monkeypatch):
    calls = []
    real = decode_module.decode

    def counting(path, settings):
        calls.append(os.path.basename(path))
        return real(path, settings)

    monkeypatch.setattr("engines.data.ingest.decode", counting)
    return calls


def test_second_load_is_a_memory_mapped_hit_without_decoding(folder, cache, monkeypatch):
    first = load_images([folder], size=16, cache_dir=cache)
    assert first.info["cache"] == "built"
    calls = count_decodes(monkeypatch)
    again = load_images([folder], size=16, cache_dir=cache)
    assert calls == [] and again.info["cache"] == "hit"
    assert isinstance(again.images, np.memmap) and not again.images.flags.writeable
    assert np.array_equal(first.images, again.images) and again.paths == first.paths
    assert [s.reason for s in again.skipped] == [s.reason for s in first.skipped] != []


def test_changed_added_and_removed_files_are_redecoded_and_nothing_else(folder, cache, monkeypatch):
    before = load_images([folder], size=16, cache_dir=cache)
    put(folder / "2.png", 255)
    st = os.stat(folder / "2.png")
    os.utime(folder / "2.png", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # coarse clocks
    put(folder / "new.png", 128)
    os.remove(folder / "5.png")
    calls = count_decodes(monkeypatch)
    after = load_images([folder], size=16, cache_dir=cache)
    assert sorted(calls) == ["2.png", "new.png"] and after.info["cache"] == "updated"
    names = [os.path.basename(p) for p in after.paths]
    assert names == ["0.png", "1.png", "2.png", "3.png", "4.png", "new.png"]
    assert tuple(after.images[2, 8, 8]) == (255, 0, 7)                     # fresh pixels, not stale ones
    assert np.array_equal(after.images[[0, 1, 3, 4]], before.images[[0, 1, 3, 4]])
    assert [p.name for p in slot_dir(cache).iterdir() if p.suffix != ".json"] == [
        os.path.basename(json.loads((slot_dir(cache) / "index.json").read_text())["data_file"])]


def test_a_file_turning_bad_is_skipped_not_served_from_cache(folder, cache):
    load_images([folder], size=16, cache_dir=cache)
    (folder / "3.png").write_text("overwritten with text, a different size")
    after = load_images([folder], size=16, cache_dir=cache)
    assert len(after) == 5 and any(s.path.endswith("3.png") for s in after.skipped)


def test_other_settings_get_their_own_cache(folder, cache):
    small = load_images([folder], size=16, cache_dir=cache)
    big = load_images([folder], size=24, fit="pad", cache_dir=cache)
    grey = load_images([folder], size=16, channels=1, cache_dir=cache)
    assert big.info["cache"] == grey.info["cache"] == "built"
    assert small.images.shape[1:] == (16, 16, 3) and big.images.shape[1:] == (24, 24, 3)
    assert grey.images.shape[1:] == (16, 16, 1)
    assert load_images([folder], size=16, cache_dir=cache).info["cache"] == "hit"


def test_auto_channels_switch_to_rgb_when_a_colour_image_arrives(tmp_path, cache):
    for i in range(3):
        Image.new("L", (20, 20), i * 50).save(tmp_path / f"g{i}.png")
    assert load_images([tmp_path], size=16, cache_dir=cache).channels == 1
    put(tmp_path / "colour.png", 10)
    data = load_images([tmp_path], size=16, cache_dir=cache)
    assert data.channels == 3 and len(data) == 4 and data.info["cache"] == "built"


@pytest.mark.parametrize("damage", ["garbage_index", "truncated_data", "missing_data", "wrong_shape"])
def test_a_damaged_cache_is_rebuilt_not_trusted(folder, cache, damage):
    first = np.array(load_images([folder], size=16, cache_dir=cache).images)   # a copy: we damage the file
    slot = slot_dir(cache)
    index = json.loads((slot / "index.json").read_text())
    data_file = slot / index["data_file"]
    if damage == "garbage_index":
        (slot / "index.json").write_text("{ not json")
    elif damage == "truncated_data":
        with open(data_file, "r+b") as fh:
            fh.truncate(os.path.getsize(data_file) - 100)
    elif damage == "missing_data":
        data_file.unlink()
    else:
        index["rows"] = index["rows"][:-1]
        (slot / "index.json").write_text(json.dumps(index))
    again = load_images([folder], size=16, cache_dir=cache)
    assert again.info["cache"] == "built"
    assert np.array_equal(first, again.images)


def test_cache_location_comes_from_the_environment(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_CACHE", str(tmp_path / "env_cache"))
    load_images([folder], size=16)
    assert (tmp_path / "env_cache" / "ingest").is_dir()


def test_unwritable_cache_location_still_loads(folder, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("a file where the cache folder should go")
    data = load_images([folder], size=16, cache_dir=blocker)
    assert len(data) == 6 and data.info["cache"] == "off"
    assert data.info["settings"]["background"] == "#ffffff"
    assert data.describe()["fit"] == "center-crop" and data.describe()["background"] == "#ffffff"


def test_progress_counts_up_to_the_total(folder, cache):
    seen = []
    load_images([folder], size=16, cache_dir=cache, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_stops_early_and_leaves_no_cache(folder, cache, workers):
    for i in range(6, 40):
        put(folder / f"{i}.png", i)
    progressed = []
    with pytest.raises(IngestCancelled):
        load_images([folder], size=16, channels=3, cache_dir=cache, workers=workers,
                    progress=lambda d, t: progressed.append(d), cancelled=lambda: len(progressed) >= 3)
    assert max(progressed) < 40
    leftovers = [p.name for p in cache.rglob("*") if p.is_file()]
    assert leftovers == []
    assert len(load_images([folder], size=16, channels=3, cache_dir=cache)) == 40


def test_least_recently_used_datasets_are_pruned_past_the_budget(folder, cache):
    load_images([folder], size=16, cache_dir=cache)
    slot_of_first = slot_dir(cache)
    os.utime(slot_of_first / "index.json", (1, 1))              # used long ago
    load_images([folder], size=24, cache_dir=cache)
    held = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
    # room for the next dataset's pixels, but not for its index and file header too
    budget = held + 6 * 32 * 32 * 3
    load_images([folder], size=32, cache_dir=cache, cache_max_bytes=budget)
    remaining = list((cache / "ingest").iterdir())
    assert len(remaining) == 2 and slot_of_first not in remaining
    assert load_images([folder], size=32, cache_dir=cache).info["cache"] == "hit"
    assert load_images([folder], size=24, cache_dir=cache).info["cache"] == "hit"


def test_cancel_during_the_scan_is_honoured(folder, cache):
    with pytest.raises(IngestCancelled):
        load_images([folder], size=16, cache_dir=cache, cancelled=lambda: True)
    assert not cache.exists()


def test_a_split_of_a_cached_dataset_stays_on_disk_and_reads_the_right_rows(folder, cache):
    from engines.data import RowView
    data = load_images([folder], size=16, cache_dir=cache)
    everything = np.array(data.images)
    train, val = data.split(0.34, seed=3)
    assert isinstance(train.images, RowView) and isinstance(val.images, RowView)
    train_rows = [data.paths.index(p) for p in train.paths]
    assert np.array_equal(np.asarray(train.images), everything[train_rows])
    assert np.array_equal(train.images[[2, 0]], everything[[train_rows[2], train_rows[0]]])
    assert np.array_equal(train.images[1:3], everything[train_rows[1:3]])
    assert np.array_equal(train.images[1, 2:4, 5], everything[train_rows[1], 2:4, 5])
    inner = train.subset(np.array([0, 2]))
    assert np.array_equal(np.asarray(inner.images), everything[[train_rows[0], train_rows[2]]])


def test_training_reads_batches_from_the_cached_array(folder, cache, tmp_path):
    from engines.families.gan import DCGANConfig
    from engines.train import events as ev
    from engines.train.loop import Trainer, TrainSettings
    data = load_images([folder], size=16, cache_dir=cache)
    settings = TrainSettings(steps=2, batch_size=4, log_every=1, sample_every=0, checkpoint_every=0,
                             n_samples=4, val_fraction=0.2, flip=True)
    trainer = Trainer.new("dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8), settings, data, tmp_path / "run")
    events = list(trainer.run())
    assert isinstance(events[-1], ev.Finished) and events[-1].step == 2


def test_an_edit_that_keeps_size_and_restores_mtime_is_still_redecoded(folder, cache, monkeypatch):
    load_images([folder], size=16, cache_dir=cache)
    target = folder / "3.png"
    st = os.stat(target)
    put(target, 250)                     # same encoder, same size: only the pixels change
    if os.stat(target).st_size != st.st_size:
        pytest.skip("the edit changed the file size; this case needs an equal-size edit")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # what `touch -r` or `rsync -t` leave behind
    calls = count_decodes(monkeypatch)
    after = load_images([folder], size=16, cache_dir=cache)
    assert calls == ["3.png"]
    assert tuple(after.images[3, 8, 8])[0] == 250
