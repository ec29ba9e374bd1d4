"""Opening a checkpoint never runs code: pickles dressed up as checkpoints are refused, also when
they sit in a run folder that is resumed or loaded; a write cut short leaves the previous one."""

import hashlib
import json
import pickle

import pytest
import torch

from engines.cli import main
from engines.train import checkpoint as ckpt
from engines.train.checkpoint import (CheckpointError, checkpoint_paths, latest_checkpoint, load_checkpoint,
                                      remove_stale_temp_files, save_checkpoint)
from engines.train.loop import Trainer, TrainSettings
from engines.train.restore import load_engine
from engines.families.gan import DCGANConfig

SMALL = DCGANConfig(latent_dim=8, g_width=8, d_width=8)
SETTINGS = TrainSettings(steps=2, batch_size=4, log_every=1, sample_every=0, n_samples=4)


class _Trap:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(path, blob):
    """Replace a checkpoint's tensors by `blob`, with a JSON record whose checksum matches it."""
    path.with_suffix(".safetensors").write_bytes(blob)
    record = json.loads(path.read_text())
    record["sha256"] = hashlib.sha256(blob).hexdigest()
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("make", ["pickle", "torch.save"])
def test_a_pickle_named_safetensors_with_a_matching_checksum_is_refused(tmp_path, make):
    marker = tmp_path / "pwned"
    path = save_checkpoint(tmp_path, 1, {"x": torch.zeros(4)}, {})
    if make == "pickle":
        blob = pickle.dumps({"x": _Trap(marker)})
    else:
        torch.save({"x": _Trap(marker)}, tmp_path / "evil.pt")
        blob = (tmp_path / "evil.pt").read_bytes()
    _plant(path, blob)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_record_cannot_point_outside_its_folder(tmp_path):
    path = save_checkpoint(tmp_path / "run", 1, {"x": torch.zeros(4)}, {})
    (tmp_path / "elsewhere.safetensors").write_bytes(path.with_suffix(".safetensors").read_bytes())
    record = json.loads(path.read_text())
    record["tensors"] = "../../elsewhere.safetensors"
    path.with_suffix(".safetensors").unlink()
    path.write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="path separator"):
        load_checkpoint(path)


def test_a_run_folder_holding_a_pickle_is_refused_by_resume_load_and_the_cli(tmp_path, tiny, capsys):
    from PIL import Image

    marker = tmp_path / "pwned"
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i, image in enumerate(tiny.images):
        Image.fromarray(image[..., 0]).save(imgs / f"{i}.png")
    run = tmp_path / "run"
    list(Trainer.new("dcgan", SMALL, SETTINGS, tiny, run).run())
    _plant(latest_checkpoint(run), pickle.dumps({"generator": _Trap(marker)}))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        Trainer.resume(run, tiny, steps=4)
    with pytest.raises(CheckpointError):
        load_engine(run)
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--steps", "4", "--data", str(imgs)]) == 2
    assert main(["sample", str(run), "--n", "1", "--out", str(tmp_path / "s")]) == 2
    assert capsys.readouterr().err.count("is not a safetensors file") == 2
    assert not marker.exists()


def test_a_write_cut_short_leaves_the_previous_checkpoint_and_resume_cleans_up(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, 1, {"x": torch.ones(4)}, {})

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for the process dying between the two files

    monkeypatch.setattr(ckpt, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 2, {"x": torch.zeros(4)}, {})
    monkeypatch.undo()
    assert [s for s, _ in checkpoint_paths(tmp_path)] == [1]
    assert torch.equal(load_checkpoint(latest_checkpoint(tmp_path))[0]["x"], torch.ones(4))
    (tmp_path / "checkpoints" / ".step_00000003.safetensors.abc.tmp").write_bytes(b"half")
    assert remove_stale_temp_files(tmp_path) == 2  # the orphaned tensors of step 2 and the temp file
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_00000001.json",
                                                                           "step_00000001.safetensors"]


def test_tied_and_viewed_tensors_are_stored_and_come_back_equal(tmp_path):
    weight = torch.randn(4, 3)
    payload = {"a": weight, "tied": weight, "view": weight[1:3], "other": torch.arange(3.0)}
    back, _ = load_checkpoint(save_checkpoint(tmp_path, 1, payload, {}))
    for key in payload:
        assert torch.equal(back[key], payload[key]), key
