"""Find candidate image files under what the person dropped, and give each its class label.

Only the file system is touched here (names, stat); image content is judged in decode.py. Symlinks
are followed, but every directory is entered at most once (by real path), so a link loop ends, and
a file reached twice through links is used once.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from .dataset import Skipped
from ..names import name_problem


def changed_ns(st: os.stat_result) -> int:
    """When a file's content last changed, as far as the file system can tell. The later of mtime and
    ctime: an edit that restores the old mtime (touch -r, some editors, rsync -t) still moves ctime,
    which no program can set; a copy or chmod moves it too, costing a needless re-decode, never a stale image."""
    return max(st.st_mtime_ns, st.st_ctime_ns)


class Candidate(NamedTuple):  # a tuple: thousands are made per load
    path: str
    label: str | None
    size: int          # bytes
    changed_ns: int

    @property
    def identity(self) -> tuple[str, int, int]:
        return (self.path, self.size, self.changed_ns)


@dataclass
class ScanResult:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)   # empty when unlabelled
    note: str = ""                                          # why labels were dropped, if they were


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


class ScanStopped(Exception):
    """The caller's `stop()` returned True while scanning."""


class _Walker:
    def __init__(self, result: ScanResult, stop: Callable[[], bool] | None = None, exclude: Sequence[str] = ()):
        self.result = result
        self.stop = stop
        self.exclude = set(exclude)
        self.seen_dirs: set[str] = set()
        self.seen_files: dict[str, str] = {}   # real path -> first path it was found under

    def skip(self, path: str, reason: str) -> None:
        self.result.skipped.append(Skipped(path, reason))

    def add_file(self, path: str, real: str, label: str | None) -> None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self.skip(path, "broken link (target missing or a loop)" if os.path.islink(path) else "vanished during scan")
            return
        except PermissionError:
            self.skip(path, "unreadable (permission denied)")
            return
        except OSError as exc:
            self.skip(path, f"unreadable ({exc.strerror or type(exc).__name__})")
            return
        if not stat.S_ISREG(st.st_mode):
            self.skip(path, "not a regular file")
            return
        first = self.seen_files.get(real)
        if first is not None:
            self.skip(path, f"same file as {first} (reached twice through links)")
            return
        self.seen_files[real] = path
        self.result.candidates.append(Candidate(path, label, st.st_size, changed_ns(st)))

    def walk(self, folder: str, real: str, label: str | None, subfolders_are_classes: bool) -> None:
        """Depth-first, sorted by name: files of a folder first, then its subfolders."""
        if self.stop is not None and self.stop():
            raise ScanStopped
        if real in self.seen_dirs:
            self.skip(folder, "folder already scanned (link loop or repeated folder)")
            return
        if real in self.exclude:
            self.skip(folder, "genstudio's own cache folder (not scanned)")
            return
        if is_run_folder(folder):
            self.skip(folder, "a genstudio run folder: its sample grids are no training images (not scanned)")
            return
        self.seen_dirs.add(real)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            self.skip(folder, "folder unreadable (permission denied)")
            return
        except OSError as exc:
            self.skip(folder, f"folder unreadable ({exc.strerror or type(exc).__name__})")
            return
        subdirs = []
        for entry in entries:
            if _hidden(entry.name):
                self.skip(entry.path, "hidden folder (not scanned)" if _is_dir(entry) else "hidden file")
                continue
            link = entry.is_symlink()
            if link and not os.path.exists(entry.path):
                self.skip(entry.path, "broken link (target missing or a loop)")
                continue
            if _is_dir(entry):
                subdirs.append(entry)
                continue
            self.add_file(entry.path, os.path.realpath(entry.path) if link else os.path.join(real, entry.name), label)
        for entry in subdirs:
            why = name_problem(entry.name) if subfolders_are_classes else None
            if why:  # a class name is written into run.json and model files, where it must be a plain name
                self.skip(entry.path, f"class folder name {why} (not scanned)")
                continue
            self.walk(entry.path, os.path.realpath(entry.path), entry.name if subfolders_are_classes else label,
                      False)


def is_run_folder(path: str | os.PathLike) -> bool:
    """A genstudio run folder (run.json beside checkpoints/), whose PNGs are sample grids."""
    try:
        return os.path.isfile(os.path.join(path, "run.json")) and os.path.isdir(os.path.join(path, "checkpoints"))
    except (OSError, ValueError):
        return False


def _has_subfolders(folder: Path) -> bool:
    try:
        with os.scandir(folder) as it:
            return any(not _hidden(e.name) and _is_dir(e) for e in it)
    except OSError:
        return False


def scan(sources: Sequence[str | os.PathLike], stop: Callable[[], bool] | None = None,
         exclude: Sequence[str] = ()) -> ScanResult:
    """Candidates in a stable order (sources in the order given, names sorted) with labels.

    Labels: a file inside an immediate subfolder of a dropped folder belongs to that subfolder's
    class; when several folders are dropped and none has subfolders, each dropped folder is a class.
    Loose files next to class folders make the whole set unlabelled (a partial labelling would
    silently mislabel them).
    """
    result = ScanResult()
    walker = _Walker(result, stop, [os.path.realpath(e) for e in exclude])
    roots = [Path(os.path.expanduser(os.fspath(s))) for s in sources]
    folders = [r for r in roots if r.is_dir()]
    # the same folder given twice (or through a link) is still one folder: no labels from it
    every_folder_is_a_class = (len({os.path.realpath(f) for f in folders}) > 1
                               and not any(_has_subfolders(f) for f in folders))
    for root in roots:
        path = str(root)
        if root.is_dir():
            fixed = (root.resolve().name or path) if every_folder_is_a_class else None
            walker.walk(path, os.path.realpath(path), fixed, not every_folder_is_a_class)
        else:
            walker.add_file(path, os.path.realpath(path), None)
    labels = {c.label for c in result.candidates}
    if None in labels and len(labels) > 1:
        result.note = "loose files next to class folders: the images are treated as unlabelled"
        result.candidates = [Candidate(c.path, None, c.size, c.changed_ns) for c in result.candidates]
    else:
        result.class_names = sorted(lbl for lbl in labels if lbl is not None)
        if every_folder_is_a_class and result.class_names:
            shown = ", ".join(result.class_names[:4]) + (", …" if len(result.class_names) > 4 else "")
            named = {os.path.realpath(f): f.resolve().name or str(f) for f in folders}
            shared = len(set(named.values())) < len(named)
            result.note = (f"each folder given became one class ({len(result.class_names)}: {shown}"
                           + ("; folders with the same name share one" if shared else "")
                           + "), as none has class subfolders; for unlabelled data put the images in one folder")
    return result
