"""genstudio families [--json]: the registered families and their settings."""

from __future__ import annotations

import json

from .. import registry
from ..config import field_infos
from ..families import capabilities
from ..sampling import sampling_fields_json
from ..tools.session import TITLES, can, method_name


def add_parser(sub) -> None:
    p = sub.add_parser("families", help="list model families and their settings (or one: families NAME)")
    p.add_argument("name", nargs="?", metavar="NAME", help="show only this family (e.g. ddpm)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    fams = registry.all_families()
    if args.name:
        fams = [registry.get(args.name)]  # an unknown name is one line naming the families there are
    if args.json:
        print(json.dumps([{"name": f.name, "title": f.title, "description": f.description,
                           "inputs": [i.to_json() for i in f.engine_class.inputs],
                           "capabilities": list(capabilities.of(f.engine_class)),
                           "tools": {t: (method_name(f.engine_class, t) if can(f.engine_class, t) else None)
                                     for t in TITLES},
                           "fields": [i.to_json() for i in field_infos(f.config_class)],
                           "sampling": sampling_fields_json(f.engine_class.sampling_config),
                           "sampling_by": _sampling_by_json(f.engine_class)} for f in fams], indent=1))
        return 0
    for f in fams:
        print(f"{f.name:10s} {f.title} — {f.description}")
        print(f"  can: {', '.join(capabilities.of(f.engine_class))}")
        print(f"  tools: {', '.join(t for t in TITLES if can(f.engine_class, t)) or 'none'}")
        if len(f.engine_class.inputs) > 1:
            print("  inputs:")
            for i in f.engine_class.inputs:
                how = "--data PATH" if i.name == "data" else f"--input {i.name}=PATH"
                print(f"    {how:22s} {i.expects()}{'' if i.required else ' (optional)'}: {i.help}")
        for i in field_infos(f.config_class):
            rng = f" [{', '.join(map(str, i.choices))}]" if i.choices else (
                f" [{i.min:g}..{i.max:g}]" if i.min is not None and i.max is not None else "")
            only = "; ".join(f"{k}={'|'.join(map(str, v))}" for k, v in (i.when or {}).items())
            print(f"    {i.name}={i.default}{rng}  {i.help}{f' (only with {only})' if only else ''}")
        by = f.engine_class.sampling_configs_by
        blocks = ([(f" with {by[0]}={value}", cls) for value, cls in by[1].items()] if by
                  else [("", f.engine_class.sampling_config)])
        for when, sampling in blocks:
            if sampling is None:
                continue
            print(f"  sampling options{when} (genstudio sample --set KEY=VALUE; the run's own settings are the defaults):")
            for i in field_infos(sampling):
                rng = f" [{', '.join(map(str, i.choices))}]" if i.choices else (
                    f" [{i.min:g}..{i.max:g}]" if i.min is not None and i.max is not None else "")
                print(f"    {i.name}{rng}  {i.help}")
    return 0


def _sampling_by_json(engine_class) -> dict | None:
    """When a config field decides a run's sampling options (ldm's objective): that field and each
    value's options; None when the family has one set (`sampling`)."""
    by = engine_class.sampling_configs_by
    if not by:
        return None
    return {"field": by[0], "options": {value: sampling_fields_json(cls) for value, cls in by[1].items()}}
