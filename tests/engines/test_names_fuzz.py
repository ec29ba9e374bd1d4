"""Names are data, never paths: crafted model files, checkpoints and run.json files (names that are
paths, control characters, over-long names, huge or malformed metadata, tensors of the wrong type or
shape, truncated data) are each refused with one line, and nothing is ever written outside the
folder a person chose."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from engines import registry
from engines.cli import main
from engines.config import replace_checked
from engines.families.base import DataSpec
from engines.names import UnsafeName, check_name, file_name, file_names, inside
from engines.train.checkpoint import CheckpointError, checkpoint_paths
from engines.train.loop import Trainer, TrainSettings
from engines.train.model_file import save_model
from engines.train.restore import load_engine
from engines.train.run import RunError
from tests.helpers import tiny_dataset

BAD_NAMES = ["../../ESCAPED", "..", ".", "a/b", "a\\b", "/etc/passwd", "C:evil", "line\nbreak", "tab\there",
             "nul\x00byte", "bidi\u202eflip", "x" * 300, "", "   ", 7, None]


def _cgan(names=("a", "b")):
    family = registry.get("cgan")
    config = replace_checked(registry.default_config("cgan", 16), latent_dim=4, g_width=8, d_width=8)
    return family.engine_class(config, DataSpec(16, 1, len(names), tuple(names)), torch.device("cpu"))


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _one_line_refusal(call, *errors):
    with pytest.raises(errors or (CheckpointError, RunError)) as info:
        call()
    text = str(info.value)
    assert text and "\n" not in text.strip() and "Traceback" not in text, text
    return text


@pytest.mark.parametrize("bad", BAD_NAMES, ids=lambda b: ascii(b)[:20])
def test_check_name_refuses_every_kind_of_path_in_one_line(bad):
    with pytest.raises(UnsafeName) as info:
        check_name(bad, "class name", "model.safetensors")
    assert "\n" not in str(info.value) and str(info.value).startswith("model.safetensors: class name")


def test_ordinary_names_pass_and_file_names_are_one_safe_component():
    for ok in ("cats", "big dogs", "ünïcode", "日本", "a.b", "v1-2_3", ".hidden", "CON"):
        assert check_name(ok) == ok
    for name in BAD_NAMES[:-2] + [".hidden", "CON", "aux.txt", "trailing. "]:
        safe = file_name(str(name))
        assert safe and "/" not in safe and "\\" not in safe and safe not in (".", "..")
        assert safe.isprintable() and not safe.startswith(".") and len(safe.encode()) <= 120
        assert safe.split(".")[0].upper() not in ("CON", "AUX")
    assert file_names(["a/b", "a\\b", "A_b"]) == ["a_b", "a_b-2", "A_b-3"]


def test_inside_refuses_paths_leaving_the_folder(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    assert inside(out, out / "x" / "y.png") == (out / "x" / "y.png").resolve()
    for escape in ("../x.png", "../../ESCAPED/0.png", "/etc/passwd", "x/../../y"):
        with pytest.raises(UnsafeName):
            inside(out, escape)


def test_the_reported_traversal_is_closed(tmp_path, capsys):
    """A model file whose class name is ../../ESCAPED, asked for --out a/b/out, wrote a/ESCAPED/."""
    model = tmp_path / "evil.safetensors"
    save_model(_cgan(("../../ESCAPED", "b")), model, step=1)
    out = tmp_path / "a" / "b" / "out"
    before = _files(tmp_path)
    assert main(["synthesize", str(model), "--n-per-class", "1", "--out", str(out), "--no-cas"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "class name" in err and "path separator" in err
    assert _files(tmp_path) == before


def test_names_that_are_valid_but_odd_become_safe_folders(tmp_path):
    model = tmp_path / "odd.safetensors"
    save_model(_cgan((".hidden", "CON")), model, step=1)
    out = tmp_path / "out"
    assert main(["synthesize", str(model), "--n-per-class", "1", "--out", str(out), "--no-cas"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["_CON", "hidden", "manifest.json"]
    assert json.loads((out / "manifest.json").read_text())["class_folders"] == {".hidden": "hidden", "CON": "_CON"}


# --- crafted model files ---------------------------------------------------------------------------------

def _tamper_header(src: Path, dst: Path, change) -> Path:
    blob = src.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    meta = json.loads(blob[8:8 + n])["__metadata__"]
    header = json.loads(meta["genstudio"])
    change(header)
    meta["genstudio"] = json.dumps(header)
    dst.write_bytes(st_save(st_load(blob), metadata=meta))
    return dst


def _set(path: str, value):
    def change(header):
        *keys, last = path.split(".")
        d = header
        for k in keys:
            d = d[k]
        d[last] = value
    return change


MODEL_CASES = {
    "class name is a path": _set("data_spec.class_names", ["../../ESCAPED", "b"]),
    "absolute class name": _set("data_spec.class_names", ["/tmp/abs", "b"]),
    "control character": _set("data_spec.class_names", ["a\rb", "b"]),
    "over-long class name": _set("data_spec.class_names", ["x" * 1000, "b"]),
    "class name not text": _set("data_spec.class_names", [1, 2]),
    "duplicate class names": _set("data_spec.class_names", ["a", "a"]),
    "names do not match count": _set("data_spec.class_names", ["a", "b", "c"]),
    "huge class list": _set("data_spec.class_names", [f"c{i}" for i in range(200_001)]),
    "huge size": _set("data_spec.size", 10**9),
    "size not a number": _set("data_spec.size", "16; rm -rf"),
    "negative channels": _set("data_spec.channels", -3),
    "absurd channels": _set("data_spec.channels", 10**6),
    "data spec a list": _set("data_spec", [16, 1]),
    "input name is a path": _set("inputs", {"../x": {"data_spec": {"size": 16, "channels": 1}}}),
    "source with newline": _set("source", "run\nFAKE LOG LINE"),
    "state not a mapping": _set("state", "nope"),
    "unknown family": _set("family", "../../family"),
    "step negative": _set("step", -1),
    "config of wrong types": _set("config", {"latent_dim": "lots", "g_width": [1]}),
}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "good.safetensors"
    save_model(_cgan(), path, step=1)
    return path


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_crafted_model_headers_are_refused_in_one_line(case, model_file, tmp_path):
    bad = _tamper_header(model_file, tmp_path / "m.safetensors", MODEL_CASES[case])
    before = _files(tmp_path)
    _one_line_refusal(lambda: load_engine(bad))
    assert _files(tmp_path) == before


def test_wrong_dtypes_shapes_and_truncated_tensors_are_refused(model_file, tmp_path):
    blob = model_file.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    meta = json.loads(blob[8:8 + n])["__metadata__"]
    tensors = st_load(blob)
    key = next(k for k, t in tensors.items() if t.ndim >= 2)
    variants = {
        "shape": {**tensors, key: torch.zeros(3, 3)},
        "dtype": {**tensors, key: torch.zeros_like(tensors[key], dtype=torch.bool)},
        "missing": {k: v for k, v in tensors.items() if k != key},
        "int dtype": {**tensors, key: torch.ones_like(tensors[key], dtype=torch.int64) * 2**40},
    }
    for name, ts in variants.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(st_save(ts, metadata=meta))
        text = _one_line_refusal(lambda: load_engine(path))
        assert "does not match" in text or "missing" in text, (name, text)
    for cut, what in ((7, "shorter than its length"), (len(blob) // 2, "half"), (len(blob) - 3, "tail")):
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(blob[:cut])
        _one_line_refusal(lambda: load_engine(path))
    huge = tmp_path / "hugeheader.safetensors"
    huge.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    _one_line_refusal(lambda: load_engine(huge))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(os.urandom(4096))
    _one_line_refusal(lambda: load_engine(garbage))


# --- crafted runs: run.json and checkpoints ----------------------------------------------------------------

@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    config = replace_checked(registry.default_config("cgan", 16), latent_dim=4, g_width=8, d_width=8)
    settings = TrainSettings(steps=1, batch_size=4, log_every=1, sample_every=0, n_samples=4)
    list(Trainer.new("cgan", config, settings, tiny_dataset(n=8, classes=2), root / "run").run())
    return root / "run"


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst)
    return dst


RUN_CASES = {
    "class name is a path": _set("data_spec.class_names", ["../../ESCAPED", "class1"]),
    "data class key is a path": _set("data.classes", {"../x": 4, "class1": 4}),
    "source with control char": _set("data.sources", ["ok", "bad\x1b[2J"]),
    "sources not a list": _set("data.sources", "/etc"),
    "input name is a path": _set("inputs", {"/abs": {"kind": "images", "paths": []}}),
    "input path with newline": _set("inputs", {"b": {"kind": "images", "paths": ["a\nb"]}}),
    "family is a path": _set("family", "../gan"),
    "data spec malformed": _set("data_spec", {"size": "big"}),
    "record a list": None,
}


@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_crafted_run_records_are_refused_in_one_line(case, run_folder, tmp_path):
    run = _copy_run(run_folder, tmp_path / "run")
    record = json.loads((run / "run.json").read_text())
    if RUN_CASES[case] is None:
        record = [record]
    else:
        RUN_CASES[case](record)
    (run / "run.json").write_text(json.dumps(record))
    before = _files(tmp_path)
    _one_line_refusal(lambda: load_engine(run))
    assert _files(tmp_path) == before


def test_crafted_checkpoints_are_refused_in_one_line(run_folder, tmp_path, capsys):
    cases = {
        "class names": _set("data_spec.class_names", ["..", "class1"]),
        "tensor file is a path": _set("tensors", "../../../etc/passwd"),
        "tensor file over-long": _set("tensors", "x" * 400),
        "state wrong": _set("state", {"__nope__": 1}),
    }
    for name, change in cases.items():
        run = _copy_run(run_folder, tmp_path / name.replace(" ", "_"))
        path = checkpoint_paths(run)[-1][1]
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))
        _one_line_refusal(lambda: load_engine(run))
    run = _copy_run(run_folder, tmp_path / "truncated")
    tensors = checkpoint_paths(run)[-1][1].with_suffix(".safetensors")
    tensors.write_bytes(tensors.read_bytes()[:100])
    _one_line_refusal(lambda: load_engine(run))
    out = tmp_path / "a" / "b" / "out"
    before = _files(tmp_path)
    assert main(["synthesize", str(run), "--n-per-class", "1", "--out", str(out), "--no-cas"]) == 2
    assert "\n" not in capsys.readouterr().err.strip()
    assert _files(tmp_path) == before


def test_a_class_folder_whose_name_is_not_a_plain_name_is_skipped_with_a_reason(tmp_path):
    from PIL import Image

    from engines.data import load_images

    for name in ("cats", "bad\nname"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("L", (8, 8), 40 * i).save(tmp_path / name / f"{i}.png")
    data = load_images([tmp_path], size=16, use_cache=False)
    assert data.class_names == ["cats"] and len(data) == 2
    assert any("control characters" in s.reason for s in data.skipped)


def test_run_names_with_control_characters_print_as_one_plain_line(tmp_path, capsys):
    """A shared run folder named with a terminal escape and a newline is listed and compared, never
    replayed on the terminal: `runs` and `compare` print its name with the characters escaped."""
    import shutil

    from engines.names import printable
    from tests.helpers import train_tiny_run

    assert printable("cats") == "cats" and printable("a\x1b[2Jb\nc\u202e") == "a\\x1b[2Jb\\nc\\u202e"
    run = train_tiny_run(tmp_path, steps=2)
    evil = tmp_path / "ws" / "runs" / "ev\x1b[31mil\nname"
    shutil.copytree(run, evil)
    capsys.readouterr()
    assert main(["runs", "--workspace", str(tmp_path / "ws")]) == 0
    assert main(["compare", str(run), str(evil)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "ev\\x1b[31mil\\nname  dcgan" in out
    assert sum("ev\\x1b[31mil\\nname" in line for line in out.splitlines()) == 2  # one line each


def test_skipped_file_names_with_control_characters_print_escaped(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("L", (16, 16), 80).save(folder / "ok.png")
    (folder / "bad\x1b[2J\nname.png").write_bytes(b"not an image")
    assert main(["scan", str(folder), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "bad\\x1b[2J\\nname.png: not an image" in out
