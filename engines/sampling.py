"""Sampling options as a typed config, like the training settings.

Each family with options at sampling time (temperature, DDIM steps, eta, guidance, a class...)
declares a frozen dataclass of `param(...)` fields as its engine's `sampling_config`. Some limits
depend on the run (DDIM steps up to the run's T, the class names of a conditional run): the engine
says so in `sampling_limits()`. One function checks strings (the command line's `--set`, the
studio's Sampler fields) against that description, with the same messages as `--set` for training:

    fields = sampling_fields(engine)                         # what a form shows, with this run's limits
    values = check_sampling_options(fields, {"steps": "20"}) # typed values, or ConfigError (one line)
    engine.set_sampling_options(**values)                    # parse + apply on the engine

Nothing here imports Qt; the Sampler panel uses `check_sampling_options` on its own thread before it
asks the model for anything.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from .config import ConfigError, FieldInfo, _coerce, did_you_mean, field_infos, param


@dataclasses.dataclass(frozen=True)
class LabelSampling:
    """Conditional GANs and VAEs: the class decode() draws when it is given no labels."""
    label: str = param("", help="Class that decode() draws when given no labels (the Latent panel's "
                                "default); conditional runs only. sample() takes classes directly.")


@dataclasses.dataclass(frozen=True)
class TemperatureSampling:
    """Flows: the prior's standard deviation."""
    temperature: float = param(1.0, min=0.0, max=2.0, help="Standard deviation of the prior the latents are drawn "
                                                        "from; below 1 gives cleaner, less varied samples.")


def sampling_fields(engine) -> list[FieldInfo]:
    """The sampling options of `engine` with this run's limits; `default` is the engine's current value."""
    cls = engine.sampling_config
    if cls is None:
        return []
    limits = engine.sampling_limits()
    current = engine.sampling_options()
    out = []
    dropped = not_applicable(engine)
    for info in field_infos(cls):
        if info.name in dropped:
            continue
        changes = dict(limits.get(info.name) or {})
        if "choices" in changes and changes["choices"] is not None:
            changes["choices"] = tuple(changes["choices"])
        out.append(dataclasses.replace(info, default=getattr(current, info.name), **changes))
    return out


def not_applicable(engine) -> dict[str, str]:
    """The sampling options of `engine`'s family that do not apply to this run, each with the reason:
    a class setting (Engine.class_settings) on a run without classes, or one its limits drop."""
    cls = engine.sampling_config
    if cls is None:
        return {}
    limits = engine.sampling_limits()
    classless = not engine.conditional
    out = {}
    for info in field_infos(cls):
        if classless and info.name in type(engine).class_settings:
            out[info.name] = "it acts only on class-conditional runs, and this one has no classes"
        elif info.name in limits and limits[info.name] is None:
            out[info.name] = ("it acts only on class-conditional runs, and this one has no classes" if classless
                              else "not for this run")
    return out


def check_sampling_options(fields: Sequence[FieldInfo], values: Mapping[str, Any], family: str = "",
                           dropped: Mapping[str, str] | None = None) -> dict:
    """Typed values for `values` (strings are fine), every one range-checked; ConfigError names the first
    bad one. Names in `dropped` (option -> why it does not apply to this run) are refused with the
    reason, other unknown names with the list of known ones."""
    by_name = {f.name: f for f in fields}
    for name in values:
        if dropped and name in dropped:
            run = f"this {family} run" if family else "this run"
            raise ConfigError(f"sampling option {name!r} does not apply to {run}: {dropped[name]}")
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        who = f"{family} has" if family else "this run has"
        known = f"it has: {', '.join(by_name)}" if by_name else "it has none"
        raise ConfigError(f"{who} no sampling option {unknown[0]!r}{did_you_mean(unknown[0], list(by_name))}; {known}")
    return {name: _coerce(by_name[name], value) for name, value in values.items()}


def parse_sampling_options(engine, values: Mapping[str, Any]):
    """The engine's current sampling config with `values` applied (checked); ConfigError when invalid."""
    typed = check_sampling_options(sampling_fields(engine), values, engine.family, not_applicable(engine))
    current = engine.sampling_options()
    return current if current is None else dataclasses.replace(current, **typed)


def sampling_fields_json(config_class) -> list[dict]:
    """`genstudio families --json`: a family's sampling options (run limits are applied when a run is opened)."""
    return [] if config_class is None else [i.to_json() for i in field_infos(config_class)]
