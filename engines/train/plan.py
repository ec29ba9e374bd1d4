"""What a run is asked to do (RunPlan) and what its folder says it did (RunRecord).

Every front door builds the same RunPlan: the CLI from its flags (engines/cli/train.py), the studio's
in-process thread from its panels (studio/worker.py), the studio's multi-process run by writing the
plan as JSON for `genstudio train --plan FILE` (studio/process_session.py). Every check of a plan
lives here, in one wording (check_plan), and a continued run takes the same changes from any door
(RESUME_CHANGEABLE: steps, time limit, device).

    plan = new_plan("dcgan", config, settings, DataPlan(("digits/",), size=28), out_dir="runs/a")
    plan = resume_plan(RunDir.open("runs/a").read(), steps=4000, time_limit=600.0)
    check_plan(plan)                         # ConfigError / InputError with one line
    trainer = Trainer.from_plan(plan)        # engines/train/loop.py

run.json is read and written through RunRecord (engines/train/record.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import registry
from ..config import ConfigError, from_dict, replace_checked, to_dict
from .record import DEFAULT_BACKGROUND, DataPlan, LoadedRun, RunRecord  # noqa: F401 - the plan's names
from .run import RunError
from .settings import RESUME_CHANGEABLE, TrainSettings

PLAN_FORMAT = "genstudio-plan/1"


# --- the checks, one wording each --------------------------------------------------------------

def batch_split_error(batch_size: int, processes: int) -> str | None:
    """Why `batch_size` cannot be the global batch of `processes` processes (None: it can)."""
    if processes > 1 and batch_size % processes:
        return (f"the batch size {batch_size} does not split evenly over {processes} processes; use a "
                f"multiple of {processes} (it is the global batch: each process takes batch_size / {processes})")
    return None


def check_batch_split(batch_size: int, processes: int) -> None:
    message = batch_split_error(batch_size, processes)
    if message:
        raise RunError(message)


# --- the plan ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunPlan:
    """One run, as asked for: a new run (resume=False) or a continued one (resume=True, whose family,
    config and settings are the run's own with RESUME_CHANGEABLE applied)."""
    family: str
    config: object                     # the family's config class
    settings: TrainSettings
    data: DataPlan
    inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the other inputs: name -> paths
    out_dir: str | None = None         # None: no run folder (nothing written; the studio's quick runs)
    resume: bool = False
    processes: int = 1

    @property
    def device(self) -> str:
        return self.settings.device

    def given(self) -> dict[str, list[str]]:
        """Every input by name, the main set as "data" (what check_given and load_inputs take)."""
        return {**{k: list(v) for k, v in self.inputs.items()}, "data": list(self.data.sources)}

    def to_json(self) -> dict:
        return {"format": PLAN_FORMAT, "family": self.family, "config": to_dict(self.config),
                "settings": to_dict(self.settings), "data": self.data.to_json(),
                "inputs": {k: list(v) for k, v in self.inputs.items()}, "out_dir": self.out_dir,
                "resume": self.resume, "processes": self.processes}

    @classmethod
    def from_json(cls, d: dict) -> "RunPlan":
        if d.get("format") != PLAN_FORMAT:
            raise ConfigError(f"not a genstudio run plan (format {d.get('format')!r})")
        family = registry.get(d["family"])
        return cls(family.name, from_dict(family.config_class, d.get("config", {})),
                   from_dict(TrainSettings, d.get("settings", {})), DataPlan.from_json(d.get("data", {})),
                   {k: tuple(v) for k, v in (d.get("inputs") or {}).items()}, d.get("out_dir"),
                   bool(d.get("resume", False)), int(d.get("processes", 1)))

    def write(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path

    @classmethod
    def read(cls, path: str | os.PathLike) -> "RunPlan":
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read the run plan {path}: {exc}") from None


def new_plan(family: str, config, settings: TrainSettings, data: DataPlan,
             inputs: dict[str, list[str]] | None = None, out_dir: str | os.PathLike | None = None,
             processes: int = 1) -> RunPlan:
    inputs = {k: tuple(str(p) for p in v) for k, v in (inputs or {}).items() if k != "data" and v}
    return RunPlan(registry.get(family).name, config, settings, data, inputs,
                   None if out_dir is None else str(out_dir), False, int(processes))


def resume_plan(record: "RunRecord", out_dir: str | os.PathLike, processes: int = 1,
                sources: list[str] | None = None, inputs: dict[str, list[str]] | None = None,
                **changes) -> RunPlan:
    """The plan that continues the run `record` describes: its own family, config and settings, with
    `changes` (only RESUME_CHANGEABLE ones; None: keep the run's) applied."""
    wrong = sorted(set(changes) - set(RESUME_CHANGEABLE))
    if wrong:
        raise ConfigError(f"a continued run keeps its settings; {wrong[0]} cannot change "
                          f"(only {', '.join(RESUME_CHANGEABLE)} can)")
    settings = replace_checked(record.train_settings(), **{k: v for k, v in changes.items() if v is not None})
    data = record.data_plan()
    if sources:
        data = DataPlan(tuple(str(s) for s in sources), data.size, data.channels, data.fit, data.background)
    given = record.input_paths()
    given.update({k: list(v) for k, v in (inputs or {}).items()})
    return RunPlan(record.family, record.family_config(), settings, data,
                   {k: tuple(v) for k, v in given.items()}, str(out_dir), True, int(processes))


def resume_changes(record: "RunRecord", settings: TrainSettings) -> dict:
    """The settings a continued run takes from `settings` (the studio's panels): those it may change."""
    mine = to_dict(settings)
    return {k: mine[k] for k in RESUME_CHANGEABLE}


def check_plan(plan: RunPlan, processes: int | None = None, main_loaded: bool = False) -> None:
    """Every check of a plan, in one place: family, processes and their batch split, image size,
    the image folders and other inputs. `processes`: the processes that will train it (default:
    the plan's). `main_loaded`: the main image set is loaded already (the studio)."""
    from ..data.ingest import MAX_SIZE, MIN_SIZE
    from .inputs import check_given
    family = registry.get(plan.family)
    n = plan.processes if processes is None else processes
    if n < 1:
        raise ConfigError("the number of processes must be at least 1")
    message = batch_split_error(plan.settings.batch_size, n)
    if message:
        raise ConfigError(message)
    if not MIN_SIZE <= plan.data.size <= MAX_SIZE:
        raise ConfigError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels")
    if plan.resume:
        if not plan.out_dir:
            raise ConfigError("continuing a run needs its run folder (--resume needs --out RUN_DIR)")
        return
    check_size = getattr(plan.config, "check_size", None)   # settings that cannot apply at this size (new runs)
    if check_size is not None:
        check_size(plan.data.size)
    given = plan.given()
    if not main_loaded:
        given["data"] = [os.path.expanduser(d) for d in given["data"]]
        missing = [d for d in given["data"] if not os.path.exists(d)]
        if missing:
            raise ConfigError(f"{missing[0]} does not exist" + (" (broken link)" if os.path.islink(missing[0]) else ""))
    check_given(family.engine_class, given, family.name, main_loaded=main_loaded)
