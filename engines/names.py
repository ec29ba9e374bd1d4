"""Names are data, never paths.

Every name that comes out of a file someone may have shared (class names and input names in a model
file, a checkpoint or run.json, run names, recorded paths) is checked when it is read (`check_name`,
`check_recorded_path`): a name is one line of printable text, not `.` or `..`, without a path
separator or a drive, and at most MAX_NAME_BYTES long. Where a name becomes part of a file name it
goes through `file_name` (one safe path component, whatever the name), and a path built for writing
is checked to stay under the folder the person chose (`inside`).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

MAX_NAME_BYTES = 255          # what one path component may hold on common file systems
MAX_PATH_CHARS = 4096
MAX_NAMES = 100_000           # class names a file may list
_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                               *(f"LPT{i}" for i in range(1, 10))})


class UnsafeName(ValueError):
    """A name read from a file that cannot be used; str(exc) is one line for a person."""


def printable(text: object) -> str:
    """Text read from a file, safe to print on one terminal line: itself when printable, else with
    control characters (escape sequences, newlines, bidi overrides) written as \\x.. escapes."""
    text = str(text)
    return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _shown(text: str, limit: int = 60) -> str:
    short = text if len(text) <= limit else text[:limit] + "…"
    return ascii(short) if not short.isprintable() else repr(short)


def _control(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text)


def name_problem(name: object) -> str | None:
    """Why `name` is not a usable name (None when it is)."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    if not name.strip():
        return "is empty"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    if _control(name):
        return "contains control characters"
    if name in (".", ".."):
        return "is a relative path"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if re.match(r"^[A-Za-z]:", name):
        return "starts with a drive"
    return None


def check_name(name: object, what: str = "name", source: str = "") -> str:
    """`name` itself when it is a usable name; else UnsafeName("<source>: <what> '<name>' <why>")."""
    why = name_problem(name)
    if why:
        shown = _shown(name) if isinstance(name, str) else ""
        where = f"{source}: " if source else ""
        raise UnsafeName(f"{where}{what} {shown + ' ' if shown else ''}{why}".replace("  ", " "))
    return name  # type: ignore[return-value]


def check_names(names: object, what: str = "name", source: str = "", unique: bool = True) -> tuple[str, ...]:
    """A list of names read from a file: each checked, no duplicates (when `unique`), at most MAX_NAMES."""
    where = f"{source}: " if source else ""
    if not isinstance(names, (list, tuple)):
        raise UnsafeName(f"{where}{what}s must be a list, not {type(names).__name__}")
    if len(names) > MAX_NAMES:
        raise UnsafeName(f"{where}{len(names)} {what}s; at most {MAX_NAMES}")
    out = tuple(check_name(n, what, source) for n in names)
    if unique and len(set(out)) != len(out):
        dup = next(n for i, n in enumerate(out) if n in out[:i])
        raise UnsafeName(f"{where}{what} {_shown(dup)} is listed twice")
    return out


def check_recorded_path(path: object, what: str = "path", source: str = "") -> str:
    """A path recorded in a file (a data source, a first-stage run): text on one line, no NUL or
    control characters, not absurdly long. It may be absolute: it is only ever read from."""
    where = f"{source}: " if source else ""
    if not isinstance(path, str) or not path:
        raise UnsafeName(f"{where}{what} must be non-empty text")
    if len(path) > MAX_PATH_CHARS:
        raise UnsafeName(f"{where}{what} is longer than {MAX_PATH_CHARS} characters")
    if _control(path):
        raise UnsafeName(f"{where}{what} {_shown(path)} contains control characters")
    return path


def file_name(name: str, limit: int = 120) -> str:
    """Any name as one safe path component: separators, control and reserved characters become '_',
    no leading dot or trailing dot/space, Windows device names avoided, at most `limit` bytes."""
    text = "".join("_" if (c in '/\\:*?"<>|' or unicodedata.category(c)[0] in "CZ" and c != " ") else c
                   for c in str(name))
    text = text.strip().rstrip(".")
    text = text.lstrip(".") or "_"
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = "_" + text
    raw = text.encode("utf-8")
    if len(raw) > limit:
        text = raw[:limit].decode("utf-8", "ignore").rstrip(". ") or "_"
    return text


def file_names(names, limit: int = 120) -> list[str]:
    """file_name for each, made unique (case-insensitively: some file systems fold case) with -2, -3…"""
    out, seen = [], set()
    for name in names:
        base = file_name(name, limit)
        candidate, k = base, 2
        while candidate.lower() in seen:
            candidate, k = f"{base}-{k}", k + 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def inside(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """`path` (absolute, or relative to root) when it stays under `root` once resolved; else UnsafeName."""
    base = Path(root).resolve()
    target = (base / path).resolve()
    if target != base and base not in target.parents:
        raise UnsafeName(f"refusing to write {_shown(str(path))}: it would land outside {base}")
    return target
