import pickle

import pytest
import torch

from engines.train.checkpoint import (CheckpointError, checkpoint_paths, load_checkpoint,
                                      save_checkpoint)


def test_round_trip_keeps_tensors_and_plain_values(tmp_path):
    payload = {"w": torch.arange(6.0).reshape(2, 3), "nested": {"k": (1, 2.5, None, "x"), 3: [torch.ones(2)]},
               "inf": float("inf")}
    path = save_checkpoint(tmp_path, 7, payload, {"family": "test"})
    back, meta = load_checkpoint(path)
    assert meta["step"] == 7 and meta["family"] == "test"
    assert torch.equal(back["w"], payload["w"])
    assert back["nested"]["k"] == (1, 2.5, None, "x")
    assert torch.equal(back["nested"][3][0], torch.ones(2))
    assert back["inf"] == float("inf")


def test_keep_prunes_old_checkpoints(tmp_path):
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, {"x": torch.zeros(1)}, {}, keep=2)
    assert [s for s, _ in checkpoint_paths(tmp_path)] == [4, 5]


def test_a_damaged_tensor_file_is_refused(tmp_path):
    path = save_checkpoint(tmp_path, 1, {"x": torch.zeros(4)}, {})
    blob = path.with_suffix(".safetensors")
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path)


class _Boom:
    def __reduce__(self):
        return (open, ("/tmp/genstudio-pwned", "w"))


def test_a_pickle_in_place_of_a_checkpoint_is_refused_and_never_run(tmp_path):
    path = save_checkpoint(tmp_path, 1, {"x": torch.zeros(4)}, {})
    evil = pickle.dumps({"x": _Boom()})
    path.with_suffix(".safetensors").write_bytes(evil)
    with pytest.raises(CheckpointError):
        load_checkpoint(path, verify=False)
    pt = tmp_path / "model.pt"
    pt.write_bytes(evil)
    with pytest.raises(CheckpointError, match="not a genstudio checkpoint"):
        load_checkpoint(pt)
    import os
    assert not os.path.exists("/tmp/genstudio-pwned")
