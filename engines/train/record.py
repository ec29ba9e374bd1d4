"""run.json, typed: the one place that knows its keys (RunRecord), and a trained model as loaded
from a run folder or a model file (LoadedRun: the run's record and which weights).

Format genstudio-run/2 is written; genstudio-run/1 files, which may lack the inputs, fit, background
and process fields, still open with their defaults. Sections a hand-edited or damaged file holds in
the wrong shape read as empty, and numbers of the wrong type as unknown, so a reader never checks
types itself; unknown keys (a newer version's) are kept in `extra` and written back.

    record = RunDir.open("runs/a").read()      # RunRecord
    record.family, record.status, record.step, record.train_settings().steps, record.data_plan().fit
    engine, loaded = load_engine("runs/a")     # LoadedRun: the same, with checkpoint_step, warnings...
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from .. import registry
from ..config import from_dict
from ..families.base import DataSpec
from .run import RUN_FORMAT, RUN_FORMATS, RunError
from .settings import TrainSettings

DEFAULT_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class DataPlan:
    """The main image set: where it comes from and how it is preprocessed."""
    sources: tuple[str, ...] = ()
    size: int = 32
    channels: int | None = None           # None: from the data
    fit: str = "center-crop"
    background: tuple[int, int, int] = DEFAULT_BACKGROUND

    def to_json(self) -> dict:
        return {"sources": list(self.sources), "size": self.size, "channels": self.channels, "fit": self.fit,
                "background": list(self.background)}

    @classmethod
    def from_json(cls, d: dict) -> "DataPlan":
        from ..data import parse_background
        try:
            background = parse_background(d.get("background", DEFAULT_BACKGROUND))
        except Exception:  # noqa: BLE001 - an old or hand-edited record: the default, as training had
            background = DEFAULT_BACKGROUND
        channels = d.get("channels")
        return cls(tuple(str(s) for s in d.get("sources", ())), int(d.get("size", 32)),
                   None if channels is None else int(channels), str(d.get("fit", "center-crop")), background)

    @classmethod
    def recorded(cls, data: dict | None, spec: dict | None) -> "DataPlan":
        """A record's data section and data_spec (run.json's, or a model file's): the size and channels
        it trained at (the spec's, else the data's), its sources and preprocessing."""
        data = data if isinstance(data, dict) else {}
        spec = spec if isinstance(spec, dict) else {}
        return cls.from_json({"sources": data.get("sources", []), "size": spec.get("size", data.get("size", 32)),
                              "channels": spec.get("channels", data.get("channels", 3)),
                              "fit": data.get("fit", "center-crop"),
                              "background": data.get("background", DEFAULT_BACKGROUND)})


def as_number(v, kind):
    """`v` as an int or float when it is a number (not a bool), else None: a hand-edited file's odd values."""
    return kind(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


_SECTIONS = ("config", "settings", "data", "data_spec", "inputs")   # mappings
_TYPES = {"step": int, "pid": int, "created": float, "updated": float}  # numbers


@dataclass
class RunRecord:
    """run.json, typed. Unknown keys (a newer version's) are kept in `extra` and written back."""
    family: str
    config: dict
    settings: dict
    data: dict
    data_spec: dict
    inputs: dict = field(default_factory=dict)
    status: str = "created"
    step: int = 0
    device: str | None = None
    precision: str | None = None
    channels_last: bool | None = None
    distributed: dict | None = None
    failure: dict | None = None
    created: float | None = None
    updated: float | None = None
    pid: int | None = None
    host: str | None = None
    versions: dict | None = None
    format: str = RUN_FORMAT
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: dict, where: str = "run.json", need_spec: bool = True) -> "RunRecord":
        """`need_spec`: refuse a record that does not say what images it trained on (to load or
        continue it); a run list reads one without."""
        if not isinstance(d, dict) or d.get("format") not in RUN_FORMATS:
            raise RunError(f"{where} is not a genstudio run")
        if not isinstance(d.get("family"), str):
            raise RunError(f"{where} does not say which family it trains")
        if need_spec and "data_spec" not in d:
            raise RunError(f"{where} does not say what images it was trained on (no data_spec)")
        own = {f.name for f in fields(RunRecord)} - {"extra"}
        values = {k: v for k, v in d.items() if k in own}
        for key in _SECTIONS:
            if not isinstance(values.get(key), dict):
                values[key] = {}
        for key, kind in _TYPES.items():
            if key in values:
                values[key] = as_number(values[key], kind)
        values["step"] = values.get("step") or 0
        values["status"] = str(values.get("status", "created"))
        return cls(**values, extra={k: v for k, v in d.items() if k not in own})

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(RunRecord) if f.name != "extra"}
        return {**self.extra, **{k: v for k, v in out.items() if v is not None}}

    # --- typed views --------------------------------------------------------------------------
    def family_entry(self) -> registry.Family:
        try:
            return registry.get(self.family)
        except registry.UnknownFamily as exc:
            raise RunError(str(exc)) from None

    def family_config(self):
        try:
            return from_dict(self.family_entry().config_class, self.config, strict=False)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"run.json has settings this version cannot use ({exc})") from None

    def train_settings(self) -> TrainSettings:
        try:
            return from_dict(TrainSettings, self.settings, strict=False)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"run.json has settings this version cannot use ({exc})") from None

    def setting(self, name: str, default=None):
        """One training setting as recorded (a run list or a panel that must not fail on an odd value)."""
        return self.settings.get(name, default)

    def spec(self) -> DataSpec:
        try:
            return DataSpec.from_json(self.data_spec)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"run.json has settings this version cannot use ({exc})") from None

    def data_plan(self) -> DataPlan:
        """The main image set's sources and preprocessing (size and channels as trained)."""
        return DataPlan.recorded(self.data, self.data_spec)

    def input_paths(self) -> dict[str, list[str]]:
        return {name: list(row.get("paths", [])) for name, row in self.inputs.items() if isinstance(row, dict)}


@dataclass
class LoadedRun(RunRecord):
    """A trained model as load_engine gives it (engines/train/restore.py): its run's record (a model
    file's: what its header says), the checkpoint it came from and what a person should hear.

    Older callers read it as the dictionary load_engine used to return (`record["checkpoint_step"]`,
    `record.get("data")`): the same keys, read only."""
    checkpoint: str | None = None
    checkpoint_step: int = 0
    warnings: list[str] = field(default_factory=list)   # e.g. a damaged newest checkpoint, skipped
    model_file: bool = False                             # an exported model (no data, no checkpoints)
    run: str | None = None                               # the run folder or model file it was loaded from

    @classmethod
    def of(cls, record: RunRecord, checkpoint: str, step: int, warnings: list[str] | None = None,
           model_file: bool = False) -> "LoadedRun":
        own = {f.name: getattr(record, f.name) for f in fields(RunRecord)}
        return cls(**own, checkpoint=checkpoint, checkpoint_step=int(step), warnings=list(warnings or []),
                   model_file=model_file)

    def with_run(self, run: str) -> "LoadedRun":
        return replace(self, run=str(run))

    # --- the dictionary face, for older callers -------------------------------------------------
    def _view(self) -> dict:
        return {**self.to_json(), "checkpoint": self.checkpoint, "checkpoint_step": self.checkpoint_step,
                "warnings": list(self.warnings), **({"model_file": True} if self.model_file else {}),
                **({"run": self.run} if self.run is not None else {})}

    def __getitem__(self, key: str):
        return self._view()[key]

    def get(self, key: str, default=None):
        return self._view().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._view()

    def keys(self):
        return self._view().keys()
