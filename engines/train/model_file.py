"""A trained model as one file to keep or share: `.safetensors` with the weights and, in its header,
everything needed to rebuild the model (family, config, image size and channels, class names).

What a run's checkpoints hold besides (optimiser moments, RNG states, data position) is left out: a
model file samples, encodes and is evaluated like its run, but it does not resume training. Like
checkpoints, it is never pickle: opening a model file from elsewhere cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .. import registry
from ..config import from_dict, to_dict
from ..families.base import DataSpec, Engine
from .inputs import recorded_specs
from .record import LoadedRun, RunRecord
from .checkpoint import CheckpointError, atomic_write_bytes
from .engine_state import _join_tensors, _split_tensors, _to_json_plain, _unshared, load_engine_state

MODEL_FORMAT = "genstudio-model/1"
_HEADER_KEY = "genstudio"


def is_model_file(path: str | Path) -> bool:
    return Path(path).suffix == ".safetensors" and Path(path).is_file()


def save_model(engine: Engine, path: str | Path, step: int, source: str = "") -> Path:
    """Write the engine's weights and the facts to rebuild it, atomically."""
    path = Path(path)
    state = {"modules": {name: m.state_dict() for name, m in engine.modules().items()},
             "extra": engine.extra_state()}
    tensors: dict[str, torch.Tensor] = {}
    structure = _split_tensors(state, "m", tensors)
    header = {"format": MODEL_FORMAT, "family": engine.family, "config": to_dict(engine.config),
              "data_spec": engine.data.to_json(), "step": int(step), "source": source,
              "inputs": {name: {"data_spec": v.to_json()} for name, v in engine.input_values.items()
                         if isinstance(v, DataSpec)},
              "state": _to_json_plain(structure)}
    blob = st_save(_unshared(tensors), metadata={_HEADER_KEY: json.dumps(header)})
    atomic_write_bytes(path, blob)
    return path


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[Engine, LoadedRun]:
    """(engine in eval mode, its LoadedRun shaped like a run's: family, config, data_spec, checkpoint_step...).

    A model file may come from anyone: whatever is wrong with it (names that are paths, malformed
    or huge metadata, tensors of the wrong shape or type, truncated data) is a CheckpointError of one line."""
    try:
        return _load_model(Path(path), device)
    except CheckpointError as exc:
        if "\n" in str(exc).strip():
            raise CheckpointError(_one_line(exc)) from None
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile file must never surface as a traceback
        raise CheckpointError(f"{Path(path).name} cannot be loaded: {_one_line(exc) or type(exc).__name__}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _load_model(path: Path, device) -> tuple[Engine, LoadedRun]:
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    header = _header(blob, path.name)
    try:
        family = registry.get(str(header.get("family")))
    except registry.UnknownFamily as exc:
        raise CheckpointError(f"{path.name}: {exc}") from None
    try:
        tensors = st_load(blob)
    except (SafetensorError, Exception) as exc:  # noqa: BLE001 - never fall back to anything else
        raise CheckpointError(f"{path.name} is damaged ({type(exc).__name__})") from None
    config = from_dict(family.config_class, header.get("config", {}), strict=False)
    spec = DataSpec.from_json(header["data_spec"], path.name)
    _check_header_names(header, path.name)
    engine = family.engine_class(config, spec, torch.device(device),
                                 inputs=recorded_specs(family.engine_class, header.get("inputs")))
    state = _join_tensors(header["state"], tensors)
    load_engine_state(engine, {"modules": state["modules"], "optimizers": {}, "schedulers": {},
                               "extra": state.get("extra", {})})
    for m in engine.modules().values():
        m.eval()
    record = RunRecord(family.name, header.get("config", {}), {}, {"size": spec.size, "channels": spec.channels,
                       "classes": {name: 0 for name in spec.class_names}}, header["data_spec"],
                       header.get("inputs", {}))
    return engine, LoadedRun.of(record, str(path), int(header.get("step", 0)), model_file=True)


def _check_header_names(header: dict, source: str) -> None:
    """Input names are names and recorded paths one line of text, checked as they are read."""
    from ..names import UnsafeName, check_recorded_path
    from .run import check_recorded_inputs

    check_recorded_inputs(header.get("inputs", {}), source)
    if header.get("source"):
        check_recorded_path(header["source"], "its source", source)
    step = header.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise UnsafeName(f"{source}: its step must be a whole number, not {str(step)[:40]!r}")


MAX_HEADER_BYTES = 64 * 2**20  # the JSON header of a model file; real ones are kilobytes


def _header(blob: bytes, name: str) -> dict:
    """The JSON header of a model file, read without touching the tensors."""
    try:
        size = int.from_bytes(blob[:8], "little")
        if len(blob) < 8 or size > min(MAX_HEADER_BYTES, len(blob) - 8):
            raise ValueError("header size")
        meta = json.loads(blob[8:8 + size]).get("__metadata__", {})
        header = json.loads(meta[_HEADER_KEY])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise CheckpointError(f"{name} is not a genstudio model file") from None
    if not isinstance(header, dict) or header.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{name} is not a genstudio model file")
    if not isinstance(header.get("data_spec"), dict) or not isinstance(header.get("state"), dict):
        raise CheckpointError(f"{name} is a genstudio model file with a damaged header")
    return header
