"""Load a trained engine back from a run folder (for sampling, evaluation, exploring)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import did_you_mean, from_dict
from ..families.base import DataSpec, Engine
from .checkpoint import CheckpointError, best_checkpoint, checkpoint_paths, load_checkpoint, load_newest_intact
from .engine_state import load_engine_state
from .inputs import recorded_specs
from .record import LoadedRun
from .run import RunDir, RunError


def load_engine(run_path: str | Path, checkpoint: str | Path | None = None,
                device: str | torch.device = "cpu") -> tuple[Engine, LoadedRun]:
    """(engine with the checkpoint's weights, its LoadedRun: the run's record and which checkpoint).
    The newest checkpoint unless one is named.

    `run_path` may also be a model file written by `genstudio export` (engines/train/model_file.py).
    `checkpoint`: "latest" (the default), "best" (families with a validation measure; refused
    clearly when the run has none), a step number, or the path of one of this run's checkpoint JSONs.
    "latest" is the newest *intact* checkpoint: a damaged newer one is skipped and said in
    the record's `warnings` (sentences for a person); with none intact, CheckpointError.
    """
    try:
        return _load_engine(run_path, checkpoint, device)
    except (CheckpointError, RunError) as exc:
        text = str(exc).strip()
        if "\n" in text:
            raise type(exc)(text.splitlines()[0]) from None
        raise
    except Exception as exc:  # noqa: BLE001 - a shared run or checkpoint must never surface as a traceback
        text = str(exc).strip()
        raise CheckpointError(f"{Path(run_path).name} cannot be loaded: "
                              f"{text.splitlines()[0][:300] if text else type(exc).__name__}") from None


def _load_engine(run_path, checkpoint, device) -> tuple[Engine, LoadedRun]:
    from .model_file import is_model_file, load_model

    if is_model_file(run_path):  # an exported model: one set of weights, no checkpoints to choose from
        if checkpoint not in (None, "latest"):
            raise CheckpointError(f"{Path(run_path).name} is an exported model with one set of weights; "
                                  f"a checkpoint cannot be chosen")
        return load_model(run_path, device)
    run = RunDir.open(run_path)
    record = run.read()
    family = record.family_entry()
    if checkpoint == "best":
        path = best_checkpoint(run.path)
        if path is None:
            raise CheckpointError(f"{run.path} has no best checkpoint (its family has no validation measure, "
                                  f"or it has not validated yet)")
    elif checkpoint is None or checkpoint == "latest":
        path = None
    else:
        path = _checkpoint_of_run(run.path, checkpoint)
    warnings: list[str] = []
    if path is None and checkpoint in (None, "latest"):  # a damaged newest one: the newest intact one, said
        path, payload, meta, warnings = load_newest_intact(run.path)
    elif path is None:
        raise CheckpointError(f"{run.path} has no checkpoint yet; train it first")
    else:
        payload, meta = load_checkpoint(path)
    if meta.get("family") != family.name:
        raise CheckpointError(f"{path.name} is from family {meta.get('family')!r}, not {family.name!r}")
    config = from_dict(family.config_class, meta.get("config", record.config), strict=False)
    spec = DataSpec.from_json(meta.get("data_spec", record.data_spec), path.name)
    engine = family.engine_class(config, spec, torch.device(device),
                                 inputs=recorded_specs(family.engine_class, record.inputs))
    load_engine_state(engine, payload["engine"])
    for m in engine.modules().values():
        m.eval()
    return engine, LoadedRun.of(record, str(path), int(meta.get("step", 0)), warnings)


def _checkpoint_of_run(run_path: Path, checkpoint: str | Path) -> Path:
    """The run's own checkpoint named by step number, file name or path; another run's is refused
    (same family and shapes would load silently and give that run's images under this run's name)."""
    folder = run_path / "checkpoints"
    text = str(checkpoint).strip()
    if text.isdigit():
        path = folder / f"step_{int(text):08d}.json"
        if not path.is_file():
            steps = [str(step) for step, _ in checkpoint_paths(run_path)]
            raise CheckpointError(f"{run_path.name} has no checkpoint at step {int(text)}; "
                                  f"it has: {', '.join(steps) or 'none'}")
        return path
    path = Path(text).expanduser()
    if not path.exists() and not path.is_absolute():
        path = folder / path.name
    if not path.is_file():
        raise CheckpointError(f"no checkpoint {text!r} in {run_path.name}")
    if path.resolve().parent != folder.resolve():
        raise CheckpointError(f"{text} is not a checkpoint of {run_path.name} (its checkpoints are in {folder})")
    return path


def label_index(engine: Engine, name: str) -> int:
    """Class index for a class name of the run's data; a clear error listing the known names."""
    names = list(engine.data.class_names)
    if not names or not engine.conditional:
        raise RunError(f"this {engine.family} run is not class-conditional, so --label cannot be used")
    if name not in names:
        raise RunError(f"unknown label {name!r}{did_you_mean(name, names)}; known labels: {', '.join(names)}")
    return names.index(name)
