"""An engine's state as plain JSON and tensors, never pickle: what a checkpoint (checkpoint.py), a
model file (model_file.py) and the messages between training processes (pack_state) hold. Tensors are
split out of nested dicts and lists into a flat name -> tensor map for safetensors and joined back;
loading checks every module's tensors against the model's own before touching any."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged, foreign or incompatible. Meant for a person."""


# --- flattening engine state ---------------------------------------------------------------------

def _split_tensors(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor inside nested dicts/lists by a reference, collecting it in `tensors`."""
    if isinstance(obj, torch.Tensor):
        key = prefix
        tensors[key] = obj.detach().cpu().contiguous()  # no copy for CPU tensors: st_save copies anyway
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[_json_key(k), _split_tensors(v, f"{prefix}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_split_tensors(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, float) and not np.isfinite(obj):
        return {"__float__": repr(obj)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(f"cannot store a {type(obj).__name__} in a checkpoint")


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory (tied weights, views): copy all but the first."""
    seen: set[int] = set()
    out = {}
    for key, t in tensors.items():
        ptr = t.untyped_storage().data_ptr() if t.numel() else 0
        if ptr and ptr in seen:
            t = t.clone()
        seen.add(ptr)
        out[key] = t
    return out


def _json_key(k: Any) -> Any:
    if isinstance(k, (str, int, float, bool)) or k is None:
        return k
    raise CheckpointError(f"cannot store a {type(k).__name__} key in a checkpoint")


def _join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            try:
                return tensors[obj["__tensor__"]]
            except KeyError:
                raise CheckpointError(f"checkpoint is missing tensor {obj['__tensor__']}") from None
        if "__dict__" in obj:
            return {k: _join_tensors(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_join_tensors(v, tensors) for v in obj["__tuple__"])
        if "__float__" in obj:
            return float(obj["__float__"])
        raise CheckpointError("checkpoint JSON has an unknown structure")
    if isinstance(obj, list):
        return [_join_tensors(v, tensors) for v in obj]
    return obj


def rng_state() -> dict:
    np_state = np.random.get_state(legacy=False)
    np_state["state"] = {"key": np_state["state"]["key"].tolist(), "pos": int(np_state["state"]["pos"])}
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np_state}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # the device this process trains on only: asking every GPU would open a context on each
        # from every training process (one GPU per process)
        state["cuda_current"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = dict(state["numpy"])
    np_state["state"] = {"key": np.asarray(np_state["state"]["key"], dtype=np.uint32),
                         "pos": int(np_state["state"]["pos"])}
    np.random.set_state(np_state)
    if "cuda_current" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda_current"])
    elif "cuda" in state and torch.cuda.is_available():  # checkpoints written before: every GPU's
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def _to_json_plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, dict):
        return {k: _to_json_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json_plain(v) for v in obj]
    return obj


def engine_state(engine) -> dict:
    """Everything a family needs to continue exactly: modules, optimisers, schedulers, extras."""
    return {
        "modules": {name: m.state_dict() for name, m in engine.modules().items()},
        "optimizers": {name: o.state_dict() for name, o in engine.optimizers().items()},
        "schedulers": {name: s.state_dict() for name, s in engine.schedulers().items()},
        "extra": engine.extra_state(),
    }


def _check_kinds(module: str, own: dict, given: object) -> None:
    """Every stored tensor of the kind the model holds there (float weights from floats, integer
    counters from integers): load_state_dict would otherwise cast bools or integers silently."""
    if not isinstance(given, dict):
        raise CheckpointError(f"checkpoint does not match this model's {module} (not a mapping of tensors)")
    for key, mine in own.items():
        theirs = given.get(key)
        if theirs is None or not isinstance(mine, torch.Tensor):
            continue   # missing keys are load_state_dict's to report
        if not isinstance(theirs, torch.Tensor):
            raise CheckpointError(f"checkpoint does not match this model's {module}: {key} is not a tensor")
        if mine.is_floating_point() != theirs.is_floating_point() or (mine.dtype == torch.bool) != (theirs.dtype == torch.bool):
            raise CheckpointError(f"checkpoint does not match this model's {module}: {key} is {theirs.dtype}, "
                                  f"expected {mine.dtype}")


def load_engine_state(engine, state: dict) -> None:
    """Extra state first: a family whose networks depend on it (one that grows with the step, or
    builds on a first stage) rebuilds them in load_extra_state, then the weights and optimisers load."""
    engine.load_extra_state(state.get("extra", {}))
    modules = engine.modules()
    missing = set(modules) ^ set(state["modules"])
    if missing:
        raise CheckpointError(f"checkpoint does not match this model (parts differ: {', '.join(sorted(missing))})")
    for name, m in modules.items():
        _check_kinds(name, m.state_dict(), state["modules"][name])
        try:
            m.load_state_dict(state["modules"][name])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"checkpoint does not match this model's {name}: {first}") from None
    for name, o in engine.optimizers().items():
        if name in state["optimizers"]:
            o.load_state_dict(state["optimizers"][name])
    for name, s in engine.schedulers().items():
        if name in state["schedulers"]:
            s.load_state_dict(state["schedulers"][name])


# --- state as bytes (to send between training processes; no pickle either) -----------------------

def pack_state(obj: Any) -> bytes:
    """Nested dicts/lists of tensors and JSON values -> bytes: 8-byte JSON length, JSON, safetensors."""
    tensors: dict[str, torch.Tensor] = {}
    structure = json.dumps(_to_json_plain(_split_tensors(obj, "s", tensors))).encode()
    blob = st_save(_unshared(tensors)) if tensors else b""
    return len(structure).to_bytes(8, "little") + structure + blob


def unpack_state(data: bytes) -> Any:
    n = int.from_bytes(data[:8], "little")
    structure = json.loads(data[8:8 + n].decode())
    blob = data[8 + n:]
    return _join_tensors(structure, st_load(blob) if blob else {})
