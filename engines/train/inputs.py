"""A family's named inputs (InputSpec): checking what a person gave, loading it, recording it.

The CLI (`--data`, `--input NAME=PATH`) and the studio (one drop target per input) both come here,
so the errors read the same everywhere: one line naming the input and what it expects.

    given = {"data": ["digits/"], "b": ["coloured/"]}
    check_given(family_cls, given)                      # InputError when something is off
    values = load_inputs(family_cls, given, size=32)     # the other inputs' values (the main set is not loaded here)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..data import DataError, ImageDataset, load_images
from ..families.base import MAIN_INPUT, DataSpec, InputSpec
from .run import RunError


class InputError(RunError):
    """A missing, unknown or unusable input; the message names the input and what it expects."""


def spec_of(dataset: ImageDataset) -> DataSpec:
    return DataSpec(dataset.size, dataset.channels, dataset.num_classes, tuple(dataset.class_names))


def parse_input_args(items: list[str]) -> dict[str, list[str]]:
    """`--input NAME=PATH` (repeatable; repeating a name adds paths to it) -> {name: [paths]}."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise InputError(f"--input takes NAME=PATH (for example --input b=photos/); got {item!r}")
        out.setdefault(name, []).append(path)
    return out


def check_given(family_cls, given: dict[str, list[str]], family_name: str | None = None,
                main_loaded: bool = False) -> None:
    """Refuse unknown inputs, missing required ones, paths that do not exist and a single-image
    input given several paths, with one line naming the input and what it takes.
    `main_loaded`: the main image set is loaded already (the studio): only the others are checked."""
    name = family_name or family_cls.family
    specs = {i.name: i for i in family_cls.inputs}
    if main_loaded:
        given = {k: v for k, v in given.items() if k != MAIN_INPUT.name}
        specs.pop(MAIN_INPUT.name, None)
    for key in given:
        if key not in specs:
            known = ", ".join(f"{i.name} ({i.kind})" for i in family_cls.inputs)
            raise InputError(f"{name} has no input {key!r}; its inputs: {known}")
    for spec in specs.values():
        paths = given.get(spec.name) or []
        if not paths:
            if spec.required:
                how = "--data PATH" if spec.name == MAIN_INPUT.name else f"--input {spec.name}=PATH"
                raise InputError(f"{name} needs input {spec.name!r}: {spec.expects()} ({how})")
            continue
        if spec.kind in ("image", "run") and len(paths) > 1:
            raise InputError(f"input {spec.name!r} takes one path ({spec.expects()}); got {len(paths)}")
        for p in paths:
            if not os.path.exists(p):
                raise InputError(f"input {spec.name!r}: {p} does not exist (it expects {spec.expects()})")
        if spec.kind == "image" and not os.path.isfile(paths[0]):
            raise InputError(f"input {spec.name!r} expects {spec.expects()}; {paths[0]} is a folder")


def load_input(spec: InputSpec, paths: list[str], size: int, fit: str = "center-crop",
               background=(255, 255, 255), device="cpu", progress: Callable | None = None):
    """The value of one non-main input: ImageDataset (image set), uint8 (size, size, 3) array (one
    image, preprocessed like the data), or a loaded Engine (a run or model file)."""
    if spec.kind in ("images", "image"):
        try:
            dataset = load_images(paths, size=size, channels=3 if spec.kind == "image" else None, fit=fit,
                                  background=background, progress=progress, allow_empty=True)
        except DataError as exc:
            raise InputError(f"input {spec.name!r}: {exc}") from None
        if len(dataset) == 0:
            reason = f" ({dataset.skipped[0].reason})" if dataset.skipped else ""
            raise InputError(f"input {spec.name!r}: no usable images in {', '.join(paths)}{reason}")
    if spec.kind == "images":
        return dataset
    if spec.kind == "image":
        if len(dataset) != 1:
            reason = dataset.skipped[0].reason if getattr(dataset, "skipped", None) else "not a readable image"
            raise InputError(f"input {spec.name!r}: {paths[0]} cannot be used ({reason})")
        return np.array(dataset.images[0], dtype=np.uint8)
    from .restore import load_engine  # a run: its newest checkpoint, or an exported model
    try:
        engine, record = load_engine(paths[0], device=device)
    except Exception as exc:  # noqa: BLE001 - any unreadable run is the same mistake to the person
        raise InputError(f"input {spec.name!r}: {paths[0]} cannot be loaded as {spec.expects()} "
                         f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if spec.families and record.family not in spec.families:
        raise InputError(f"input {spec.name!r} expects {spec.expects()}; {paths[0]} is a {record.family} run")
    return engine


def load_inputs(family_cls, given: dict[str, list[str]], size: int, fit: str = "center-crop",
                background=(255, 255, 255), device="cpu", main_loaded: bool = False) -> dict[str, object]:
    """Check `given` and load every input except the main set (which the caller loads as today)."""
    check_given(family_cls, given, main_loaded=main_loaded)
    return {spec.name: load_input(spec, given[spec.name], size, fit, background, device)
            for spec in family_cls.inputs[1:] if given.get(spec.name)}


def engine_inputs(family_cls, values: dict[str, object]) -> dict[str, object]:
    """What the engine's constructor receives: a DataSpec for each image set, the array for an
    image, the engine for a run."""
    out = {}
    for spec in family_cls.inputs[1:]:
        v = values.get(spec.name)
        out[spec.name] = spec_of(v) if isinstance(v, ImageDataset) else v
    return out


def record_inputs(family_cls, given: dict[str, list[str]], values: dict[str, object]) -> dict:
    """run.json's "inputs": per other input, its kind, paths and (image sets) what was loaded."""
    out = {}
    for spec in family_cls.inputs[1:]:
        if spec.name not in values:
            continue
        v = values[spec.name]
        row = {"kind": spec.kind, "paths": [str(Path(p).resolve()) for p in given.get(spec.name, [])]}
        if isinstance(v, ImageDataset):
            row.update(describe=v.describe(), data_spec=spec_of(v).to_json())
        out[spec.name] = row
    return out


def recorded_specs(family_cls, rows: dict | None) -> dict[str, object]:
    """Constructor inputs of a finished run rebuilt from its recorded inputs (RunRecord.inputs, or a
    model file's) for loading checkpoints: a DataSpec per image set; None for images and runs, which
    the family keeps in its own state."""
    rows = rows if isinstance(rows, dict) else {}
    out = {}
    for spec in family_cls.inputs[1:]:
        row = rows.get(spec.name)
        if spec.kind == "images" and row and "data_spec" in row:
            out[spec.name] = DataSpec.from_json(row["data_spec"])
        else:
            out[spec.name] = None
    return out


def reload_inputs(family_cls, given: dict[str, list[str]], size: int, fit: str, background,
                  device="cpu") -> dict[str, object]:
    """The other inputs of a recorded run (RunRecord.input_paths()), loaded again from their recorded
    paths (to resume)."""
    given = dict(given)
    for spec in family_cls.inputs[1:]:  # an optional trained run lives on in the checkpoint: not needed again
        if spec.kind == "run" and not spec.required and spec.name in given:
            if not all(os.path.exists(p) for p in given[spec.name]):
                del given[spec.name]
    missing = [f"{n} ({p})" for n, paths in given.items() for p in paths if not os.path.exists(p)]
    if missing:
        raise InputError(f"the run's input {missing[0]} is gone; give it again with --input NAME=PATH")
    return {spec.name: load_input(spec, given[spec.name], size, fit, background, device)
            for spec in family_cls.inputs[1:] if spec.name in given}
