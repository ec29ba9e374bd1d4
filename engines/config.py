"""Typed settings with metadata: the one description that drives the studio form, `--set` and JSON.

A config is a plain dataclass whose fields are declared with `param(...)`, which records the
range, the choices and the help text. Everything that edits a config goes through `replace_checked`
(or `from_dict`), so an invalid value is refused with a message that names the field.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Sequence


class ConfigError(ValueError):
    """A setting has a value it cannot take. The message is meant for a person."""


def close_names(word: str, known: Sequence[str], limit: int = 3) -> list[str]:
    """Names in `known` a person typing `word` probably meant, best first (in `known`'s order within a
    kind): the same name in another case or with - for _, names that extend it at a word boundary
    (`lr` -> `lr_g`, `lr_d`), then close spellings (`lrg` -> `lr_g`)."""
    import difflib
    w = str(word).strip().lower().replace("-", "_")
    if not w:
        return []
    keys = {k: str(k).lower().replace("-", "_") for k in known}
    same = [k for k, low in keys.items() if low == w]
    extends = [k for k, low in keys.items() if len(w) >= 2 and low.startswith(w + "_")]
    spelled = difflib.get_close_matches(w, list(keys.values()), n=limit, cutoff=0.75)
    spelled_keys = [k for low in spelled for k, kl in keys.items() if kl == low]
    out: list[str] = []
    for k in same + extends + spelled_keys:
        if k not in out:
            out.append(k)
    return out[:limit]


def did_you_mean(word: str, known: Sequence[str]) -> str:
    """' (did you mean lr_g or lr_d?)' for a misspelt or too short name; '' when nothing is close."""
    close = close_names(word, known)
    if not close:
        return ""
    return " (did you mean " + (close[0] if len(close) == 1 else ", ".join(close[:-1]) + " or " + close[-1]) + "?)"


def param(default: Any, *, help: str, min: float | None = None, max: float | None = None,
          choices: Sequence[Any] | None = None, label: str | None = None,
          advanced: bool = False, when: dict[str, Sequence[Any]] | None = None) -> Any:
    """Declare a config field with what a form or a command line needs to know about it.

    `when` says when the field matters at all, as other fields' allowed values: e.g.
    `when={"loss": ("wgan-gp",)}` for the gradient penalty's weight. A form hides the field otherwise
    (the value is kept and still checked)."""
    meta = {"help": help, "min": min, "max": max,
            "choices": tuple(choices) if choices is not None else None,
            "label": label, "advanced": advanced,
            "when": {k: tuple(v) for k, v in when.items()} if when else None}
    if isinstance(default, (list, dict, set)):
        raise TypeError("config fields hold scalars or tuples only")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldInfo:
    """What a form needs to build one editor."""
    name: str
    type: type
    default: Any
    help: str
    min: float | None
    max: float | None
    choices: tuple | None
    label: str
    advanced: bool
    when: dict[str, tuple] | None = None   # other fields' values under which this one matters

    def applies(self, values: Any) -> bool:
        """Whether this field matters given the other fields' `values` (a config or a name -> value
        mapping); a field without `when` always does."""
        get = values.get if isinstance(values, dict) else (lambda name: getattr(values, name, None))
        return all(get(name) in allowed for name, allowed in (self.when or {}).items())

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type.__name__, "default": self.default,
                "help": self.help, "min": self.min, "max": self.max,
                "choices": list(self.choices) if self.choices else None,
                "label": self.label, "advanced": self.advanced,
                "when": {k: list(v) for k, v in self.when.items()} if self.when else None}


def _resolved_types(cls) -> dict[str, type]:
    return typing.get_type_hints(cls)


def field_infos(cls_or_obj) -> list[FieldInfo]:
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    hints = _resolved_types(cls)
    out = []
    for f in fields(cls):
        m = f.metadata
        out.append(FieldInfo(
            name=f.name, type=hints[f.name], default=f.default, help=m.get("help", ""),
            min=m.get("min"), max=m.get("max"), choices=m.get("choices"),
            label=m.get("label") or readable_name(f.name), advanced=m.get("advanced", False),
            when=m.get("when")))
    return out


# Words in field names that a person reads better spelt out or in their usual case.
_WORDS = {"lr": "learning rate", "ema": "EMA", "kl": "KL", "gp": "GP", "r1": "R1", "fp32": "fp32",
          "g": "G", "d": "D", "n": "n", "nan": "NaN", "ddim": "DDIM", "snr": "SNR", "cfg": "CFG", "mlp": "MLP",
          "diffaugment": "DiffAugment", "sgld": "SGLD", "tv": "TV", "pl": "path length", "mul": "multiplier",
          "mults": "multipliers"}


def readable_name(name: str) -> str:
    """A field name as a form label: lr_g -> "learning rate G", ema_decay -> "EMA decay"."""
    return " ".join(_WORDS.get(word, word) for word in name.split("_"))


def _coerce(info: FieldInfo, value: Any) -> Any:
    """Turn a value (possibly a string from the command line or JSON) into the field's type."""
    t = info.type
    name = info.name
    if t is bool:
        if isinstance(value, bool):
            v = value
        elif isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
            v = True
        elif isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
            v = False
        elif isinstance(value, int) and value in (0, 1):
            v = bool(value)
        else:
            raise ConfigError(f"{name} must be true or false, not {value!r}")
    elif t is int:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a whole number, not {value!r}")
        try:
            if isinstance(value, str):
                value = value.strip()
                v = int(value)
            elif isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                v = int(value)
            else:
                v = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    elif t is float:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a number, not {value!r}")
        try:
            v = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, not {value!r}") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise ConfigError(f"{name} must be a finite number, not {value!r}")
    elif t is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be text, not {value!r}")
        v = value.strip()
    else:  # tuples and anything exotic pass through unchanged
        v = tuple(value) if isinstance(value, list) else value
    if info.choices is not None and v not in info.choices and isinstance(v, str):
        v = next((c for c in info.choices if isinstance(c, str) and c.lower() == v.lower()), v)  # "DDIM" is ddim
    if info.choices is not None and v not in info.choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, info.choices))}; got {v!r}")
    if info.min is not None and isinstance(v, (int, float)) and v < info.min:
        raise ConfigError(f"{name} must be at least {info.min:g}; got {v!r}")
    if info.max is not None and isinstance(v, (int, float)) and v > info.max:
        raise ConfigError(f"{name} must be at most {info.max:g}; got {v!r}")
    return v


def replace_checked(config, **changes):
    """A copy of `config` with `changes` applied, every value coerced and range-checked."""
    infos = {i.name: i for i in field_infos(config)}
    clean = {}
    for key, value in changes.items():
        if key not in infos:
            known = ", ".join(sorted(infos))
            raise ConfigError(f"unknown setting {key!r} for {type(config).__name__}{did_you_mean(key, list(infos))}; "
                              f"known: {known}")
        clean[key] = _coerce(infos[key], value)
    new = dataclasses.replace(config, **clean)
    check = getattr(new, "check", None)
    if check is not None:
        check()
    return new


def validate(config) -> None:
    """Raise ConfigError if any field of `config` is out of range (used after direct construction)."""
    replace_checked(config, **to_dict(config))


def to_dict(config) -> dict:
    return {f.name: (list(v) if isinstance(v := getattr(config, f.name), tuple) else v)
            for f in fields(config)}


def from_dict(cls, data: dict, *, strict: bool = True):
    """Build a config from JSON. With strict=False unknown keys are ignored (older/newer run files)."""
    if not strict:
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
    return replace_checked(cls(), **data)


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """Parse `KEY=VALUE` strings from the command line into a dict (values stay strings)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out
