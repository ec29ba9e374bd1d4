"""On-disk cache of preprocessed images: one .npy (memory-mapped when read) plus a JSON index.

A slot is keyed by the dropped sources and every setting that changes pixels; inside it, each row is
tied to its file's identity (path, byte size, last change: the later of mtime and ctime), so unchanged files are reused and changed
ones decoded again. Writes never modify a data file that a reader may have mapped: a new data file
is written under a fresh name, then index.json is replaced atomically. Anything that does not check
out (unparsable index, wrong shape or length, missing file) is treated as no cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import PIL

CACHE_VERSION = 2  # 2: rows keyed on max(mtime, ctime) instead of mtime
ENV_VAR = "GENSTUDIO_CACHE"
_INDEX = "index.json"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Argument, else $GENSTUDIO_CACHE, else the user's cache directory."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_cache_dir("genstudio"))


def slot_key(sources: list[str], settings: dict) -> str:
    blob = json.dumps({"v": CACHE_VERSION, "pillow": PIL.__version__, "numpy": np.__version__.split(".")[0],
                       "sources": sources, "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class Row(NamedTuple):  # a tuple: thousands are made per load
    """One cached image: its file's identity and what its header said."""
    path: str
    size: int
    changed_ns: int
    width: int
    height: int
    format: str
    mode: str

    @property
    def identity(self) -> tuple[str, int, int]:
        return (self.path, self.size, self.changed_ns)


@dataclass
class Cached:
    images: np.ndarray            # read-only memmap (N, S, S, C)
    rows: list[Row]
    skips: dict[tuple[str, int, int], str]   # identity -> reason, for files that will be skipped again
    channels: int
    data_file: str


def _header_bytes(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buf.getvalue()


class Slot:
    def __init__(self, root: Path, key: str):
        self.dir = root / "ingest" / key
        self.key = key

    # --- reading --------------------------------------------------------------------------------
    def load(self, size: int) -> Cached | None:
        index_path = self.dir / _INDEX
        if not index_path.is_file():
            return None
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            if index.get("version") != CACHE_VERSION or index.get("key") != self.key:
                return None
            rows = [Row(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), str(r[5]), str(r[6]))
                    for r in index["rows"]]
            skips = {(str(s[0]), int(s[1]), int(s[2])): str(s[3]) for s in index["skipped"]}
            channels = int(index["channels"])
            data_path = self.dir / os.path.basename(str(index["data_file"]))
            images = np.load(data_path, mmap_mode="r", allow_pickle=False)
            expected = (len(rows), size, size, channels)
            if images.dtype != np.uint8 or images.shape != expected:
                return None
            if os.path.getsize(data_path) != images.offset + images.nbytes:
                return None
            return Cached(images, rows, skips, channels, data_path.name)
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
            return None

    # --- writing --------------------------------------------------------------------------------
    def new_array(self, capacity: int, size: int, channels: int) -> tuple[Path, np.ndarray]:
        """A writable memmap for `capacity` rows, under a name no reader knows yet."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._remove_stale_partials()
        path = self.dir / f"images-{secrets.token_hex(6)}.npy.partial"
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                        shape=(capacity, size, size, channels))
        return path, arr

    def commit(self, partial: Path, full_shape: tuple[int, ...], offset: int, n_rows: int, rows: list[Row],
               skips: dict[tuple[str, int, int], str], channels: int, previous: str | None) -> np.ndarray:
        """Shrink the (flushed, unmapped) partial file to its first n_rows, publish it, map it again."""
        size = full_shape[1]
        shape = (n_rows,) + tuple(full_shape[1:])
        header = _header_bytes(shape)
        final = partial.with_name(partial.name[: -len(".partial")])
        if len(header) == offset:
            with open(partial, "r+b") as fh:
                fh.write(header)
                fh.truncate(offset + int(np.prod(shape)))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, final)
        else:  # header length changed (never with current numpy): copy into a right-sized file
            src = np.load(partial, mmap_mode="r")
            dst = np.lib.format.open_memmap(final, mode="w+", dtype=np.uint8, shape=shape)
            for i in range(0, n_rows, 1024):
                dst[i:i + 1024] = src[i:i + 1024]
            dst.flush()
            del src, dst
            partial.unlink(missing_ok=True)
        index = {"version": CACHE_VERSION, "key": self.key, "channels": channels, "size": size,
                 "data_file": final.name, "created": time.time(),
                 "rows": [[r.path, r.size, r.changed_ns, r.width, r.height, r.format, r.mode] for r in rows],
                 "skipped": [[k[0], k[1], k[2], v] for k, v in skips.items()]}
        tmp = self.dir / f"{_INDEX}.{secrets.token_hex(4)}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(index, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / _INDEX)
        # Readers that mapped an old file keep their view (POSIX); on Windows removal may fail.
        # Unknown data files are left alone for a minute: another process may be publishing one.
        now = time.time()
        for old in self.dir.glob("images-*.npy"):
            try:
                if old.name != final.name and (old.name == previous or now - old.stat().st_mtime > 60):
                    old.unlink()
            except OSError:
                pass
        return np.load(final, mmap_mode="r", allow_pickle=False)

    def touch(self) -> None:
        """Mark the slot as used now (pruning removes the least recently used slots first)."""
        try:
            os.utime(self.dir / _INDEX)
        except OSError:
            pass

    def discard(self, partial: Path | None) -> None:
        if partial is not None:
            try:
                partial.unlink()
            except OSError:
                pass

    def _remove_stale_partials(self, older_than_s: float = 3600.0) -> None:
        """Leftovers of crashed runs; recent ones may belong to another process still writing."""
        now = time.time()
        for p in self.dir.glob("*.partial"):
            try:
                if now - p.stat().st_mtime > older_than_s:
                    p.unlink()
            except OSError:
                pass


def prune(root: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete least recently used slots until the cache holds at most max_bytes; never `keep`."""
    slots = []
    for slot in (root / "ingest").glob("*"):
        try:
            files = [f for f in slot.iterdir() if f.is_file()]
            used = max((f.stat().st_mtime for f in files if f.name == _INDEX), default=0.0)
            slots.append((used, sum(f.stat().st_size for f in files), slot))
        except OSError:
            continue
    total = sum(size for _, size, _ in slots)
    removed = []
    for used, size, slot in sorted(slots, key=lambda t: t[0]):
        if total <= max_bytes:
            break
        if keep is not None and slot.resolve() == keep.resolve():
            continue
        for f in slot.iterdir():
            try:
                f.unlink()
            except OSError:
                pass
        try:
            slot.rmdir()
        except OSError:
            pass
        total -= size
        removed.append(slot)
    return removed
