"""Turn folders and files into an ImageDataset: scan, reuse the cache, decode the rest in parallel.

Decoded images go straight into one preallocated uint8 array (a memmap in the cache folder), so
peak memory stays near the size of that array plus one image per worker. Pillow releases the GIL
while decoding and resizing, so a thread pool gives real parallelism without pickling anything.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .cache import Cached, Row, Slot, cache_root, prune, slot_key
from .dataset import ImageDataset, Skipped
from .decode import (ALLOWED_FORMATS, DEFAULT_MAX_PIXELS, FIT_MODES, Header, Settings, Skip, decode,
                     read_header, to_array)
from .scan import Candidate, ScanStopped, is_run_folder, scan
from ..words import count

__all__ = ["load_images", "DataError", "IngestCancelled", "FIT_MODES", "ALLOWED_FORMATS", "to_array",
           "parse_background", "MIN_SIZE", "MAX_SIZE"]

MIN_SIZE, MAX_SIZE = 16, 256
DEFAULT_CACHE_BYTES = 4 * 2**30   # least recently used datasets are dropped beyond this
# Reasons that depend on the moment, not on the file's content: never remembered in the cache.
_TRANSIENT = ("unreadable", "not enough memory", "vanished")


class DataError(ValueError):
    """The data cannot be used at all (nothing usable, missing folder). Meant for a person."""


class IngestCancelled(DataError):
    """Loading was cancelled by the person; nothing was cached."""


def parse_background(value) -> tuple[int, int, int]:
    """(r, g, b), a grey level, or '#rrggbb' -> (r, g, b) in 0..255."""
    try:
        if isinstance(value, str):
            text = value.strip().lstrip("#")
            if len(text) != 6:
                raise ValueError
            rgb = tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))
        elif isinstance(value, (int, np.integer)):
            rgb = (int(value),) * 3
        else:
            rgb = tuple(int(v) for v in value)
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise ValueError
        return rgb  # type: ignore[return-value]
    except (TypeError, ValueError):
        raise DataError(f"background must be '#rrggbb' or three values 0-255, got {value!r}") from None


def _check_arguments(size, channels, fit, workers) -> None:
    if fit not in FIT_MODES:
        raise DataError(f"fit must be one of {', '.join(FIT_MODES)}")
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise DataError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels")
    if channels not in (None, 1, 3):
        raise DataError("channels must be 1 (grey), 3 (RGB) or automatic")
    if workers is not None and workers < 1:
        raise DataError("workers must be at least 1")


class _Progress:
    """Counts work done; calls the person's callback from the calling thread only."""

    def __init__(self, callback, total: int):
        self.callback, self.total, self.done = callback, total, 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(min(self.done, self.total), self.total)


def _run_pool(items: list, work: Callable, on_result: Callable, workers: int, progress: _Progress,
              cancelled: Callable[[], bool] | None) -> None:
    """Run work(item) over items with at most a few tasks queued per worker; stop on cancel."""
    stop = threading.Event()

    def guarded(item):
        return None if stop.is_set() else work(item)

    def is_cancelled() -> bool:
        return cancelled is not None and bool(cancelled())

    if workers == 1:
        for item in items:
            if is_cancelled():
                raise IngestCancelled("loading was cancelled")
            on_result(item, work(item))
            progress.advance()
        return
    pending: dict = {}
    queue = iter(items)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
        try:
            while True:
                while len(pending) < workers * 4:
                    item = next(queue, None)
                    if item is None:
                        break
                    pending[pool.submit(guarded, item)] = item
                if not pending:
                    return
                done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                if is_cancelled():
                    raise IngestCancelled("loading was cancelled")
                for future in done:
                    on_result(pending.pop(future), future.result())
                    progress.advance()
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))     # the cores this process may use, not the machine's
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def _refuse_run_folder(root: Path) -> None:
    """A run folder given as images would train on its sample grids, one tile-sheet per image: say what
    it is instead. (Run folders inside a given folder are skipped by the scan, with that reason.)"""
    if is_run_folder(root):
        raise DataError(f"{root} is a genstudio run folder (sample grids and checkpoints), not images to train "
                        f"on: open it in the studio's Runs panel, or sample it with `genstudio sample RUN`")


def load_images(sources: Sequence[str | os.PathLike], size: int = 32, channels: int | None = None,
                fit: str = "center-crop", background=(255, 255, 255),
                progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] | None = None, *,
                cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
                max_pixels: int = DEFAULT_MAX_PIXELS, workers: int | None = None,
                allow_empty: bool = False, cache_max_bytes: int = DEFAULT_CACHE_BYTES) -> ImageDataset:
    """Every usable image under `sources`, preprocessed to uint8 (N, size, size, channels).

    channels=None picks grey when every image is grey. `progress(done, total)` and `cancelled()`
    are called from the calling thread. Raises DataError (IngestCancelled when cancelled).
    The cache lives in cache_dir, else $GENSTUDIO_CACHE, else the user's cache directory; it never
    grows past cache_max_bytes (older datasets go first). use_cache=False decodes into memory.
    """
    _check_arguments(size, channels, fit, workers)
    background = parse_background(background)
    roots = [Path(os.path.expanduser(os.fspath(s))) for s in sources]
    if not roots:
        raise DataError("no folders or files given")
    for root in roots:
        if not root.exists():
            raise DataError(f"{root} does not exist" + (" (broken link)" if root.is_symlink() else ""))
        _refuse_run_folder(root)
    workers = workers or _default_workers()

    try:
        found = scan(roots, stop=cancelled, exclude=[cache_root(cache_dir)] if use_cache else [])
    except ScanStopped:
        raise IngestCancelled("loading was cancelled") from None
    skipped: list[Skipped] = list(found.skipped)
    candidates = found.candidates

    slot = None
    if use_cache:
        settings_record = {"size": int(size), "channels": channels, "fit": fit, "background": list(background),
                           "max_pixels": int(max_pixels), "formats": list(ALLOWED_FORMATS)}
        try:
            slot = Slot(cache_root(cache_dir), slot_key([os.path.realpath(r) for r in roots], settings_record))
        except Exception:  # noqa: BLE001 - no usable cache location: decode without one
            slot = None
    cached: Cached | None = None
    if slot is not None:
        cached = slot.load(size)
        if cached is not None and channels is not None and cached.channels != channels:
            cached = None
    old_rows = {r.identity: i for i, r in enumerate(cached.rows)} if cached else {}
    old_skips = cached.skips if cached else {}

    reused: dict[int, int] = {}                      # candidate index -> cached row
    new: list[int] = []
    skip_reason: dict[int, str] = {}
    for k, cand in enumerate(candidates):
        if cand.identity in old_rows:
            reused[k] = old_rows[cand.identity]
        elif cand.identity in old_skips:
            skip_reason[k] = old_skips[cand.identity]
        else:
            new.append(k)

    probing = channels is None and bool(new)
    prog = _Progress(progress, len(candidates) + (len(new) if probing else 0))
    prog.advance(len(reused) + len(skip_reason))
    headers: dict[int, Header] = {k: _header_of(cached.rows[r]) for k, r in reused.items()} if cached else {}

    if probing:
        def probe(k):
            try:
                return read_header(candidates[k].path, max_pixels)
            except Skip as exc:
                return str(exc)

        def keep_header(k, result):
            if isinstance(result, Header):
                headers[k] = result
            else:
                skip_reason[k] = result

        _run_pool(new, probe, keep_header, workers, prog, cancelled)
        refused = [k for k in new if k in skip_reason]
        prog.advance(len(refused))                   # those need no decoding pass
        new = [k for k in new if k not in skip_reason]
    resolved = channels if channels is not None else (1 if all(h.grey for h in headers.values()) else 3)
    if cached is not None and cached.channels != resolved:
        prog.total += len(reused)                    # auto channels changed: decode everything again
        new = sorted(new + list(reused))
        reused = {}

    slots = sorted(list(reused) + new)               # candidate indices that may become rows
    exact_hit = (cached is not None and not new and len(reused) == len(cached.rows)
                 and [reused[k] for k in slots] == list(range(len(cached.rows))))
    if exact_hit:
        images = cached.images
        slot.touch()
    else:
        images = _build(slot, cached, candidates, slots, reused, new, size, resolved, fit, background,
                        max_pixels, workers, prog, cancelled, headers, skip_reason)
    usable = [k for k in slots if k not in skip_reason]

    for k, reason in sorted(skip_reason.items()):
        skipped.append(Skipped(candidates[k].path, reason))
    if slot is None or not isinstance(images, np.memmap):   # no cache, or it could not be written
        cache_state = "off"
    else:
        cache_state = "hit" if exact_hit else ("updated" if reused else "built")
        if not exact_hit:
            prune(slot.dir.parent.parent, cache_max_bytes, keep=slot.dir)
    data = _dataset(images, [candidates[k] for k in usable], [headers[k] for k in usable], skipped, roots,
                    found.note, allow_empty, cache_state)
    data.info["settings"] = {"size": int(size), "channels": int(resolved), "fit": fit,
                             "background": "#%02x%02x%02x" % background, "max_pixels": int(max_pixels)}
    return data


def _header_of(row: Row) -> Header:
    return Header(row.format, row.mode, row.width, row.height)


def _build(slot, cached, candidates, slots, reused, new, size, channels, fit, background, max_pixels,
           workers, prog, cancelled, headers, skip_reason) -> np.ndarray:
    """Fill a fresh array: cached rows copied, new files decoded in parallel, failures compacted."""
    capacity = len(slots)
    position = {k: i for i, k in enumerate(slots)}
    partial, buf = None, None
    if slot is not None and capacity:
        try:
            partial, buf = slot.new_array(capacity, size, channels)
        except OSError:
            slot = None                              # read-only or full disk: decode into memory
    if buf is None:
        buf = np.empty((capacity, size, size, channels), np.uint8)
    try:
        if reused:
            pairs = sorted((reused[k], position[k]) for k in reused)   # sorted reads of the old memmap
            for old_row, new_row in pairs:
                buf[new_row] = cached.images[old_row]
        settings = Settings(size, channels, fit, background, max_pixels)

        def work(k):
            try:
                arr, header = decode(candidates[k].path, settings)
            except Skip as exc:
                return str(exc)
            except Exception as exc:  # noqa: BLE001 - whatever a file does, it is a skip, not a crash
                return f"could not be read ({type(exc).__name__})"
            buf[position[k]] = arr
            return header

        def keep(k, result):
            if isinstance(result, Header):
                headers[k] = result
            else:
                skip_reason[k] = result

        _run_pool(new, work, keep, workers, prog, cancelled)
        good = [k for k in slots if k not in skip_reason]
        for j, k in enumerate(good):                 # close the gaps left by skipped files, in place
            if position[k] != j:
                buf[j] = buf[position[k]]
        if slot is None or partial is None:
            return buf[:len(good)]
        if not good:
            slot.discard(partial)
            return np.empty((0, size, size, channels), np.uint8)
        rows = [Row(*candidates[k].identity, headers[k].width, headers[k].height, headers[k].format,
                    headers[k].mode) for k in good]
        remembered = {candidates[k].identity: r for k, r in skip_reason.items()
                      if not r.startswith(_TRANSIENT)}
        buf.flush()
        shape, offset = buf.shape, buf.offset
        buf = None                                   # unmap before the file is shrunk and renamed
        try:
            return slot.commit(partial, shape, offset, len(good), rows, remembered, channels,
                               cached.data_file if cached else None)
        except OSError:
            # Could not publish the cache (disk full, permissions): keep the pixels in memory.
            for path in (partial, partial.with_suffix("")):
                if path.exists():
                    data = np.load(path, mmap_mode="r")[:len(good)].copy()
                    slot.discard(path)
                    return data
            raise DataError("could not write the image cache; try again with the cache off") from None
    except BaseException:
        if slot is not None:
            slot.discard(partial)
        raise


def _dataset(images, usable: list[Candidate], headers: list[Header], skipped: list[Skipped], roots,
             note: str, allow_empty: bool, cache: str) -> ImageDataset:
    if not usable and not allow_empty:
        where = ", ".join(str(p) for p in roots)
        reasons = Counter(s.reason.split(" (")[0] for s in skipped).most_common(3)
        detail = f" ({count(len(skipped), 'file')} skipped: " + ", ".join(f"{n} {r}" for r, n in reasons) + ")" if skipped else ""
        raise DataError(f"no usable images in {where}{detail}")
    labels_seen = sorted({c.label for c in usable if c.label is not None})
    index = {name: i for i, name in enumerate(labels_seen)}
    labels = np.array([index.get(c.label, 0) for c in usable], dtype=np.int64)
    widths = np.array([h.width for h in headers]) if headers else np.zeros(0)
    heights = np.array([h.height for h in headers]) if headers else np.zeros(0)

    def spread(a):
        return [int(a.min()), int(np.median(a)), int(a.max())] if len(a) else []

    info = {"formats": dict(Counter(h.format for h in headers)), "modes": dict(Counter(h.mode for h in headers)),
            "width": spread(widths), "height": spread(heights), "cache": cache, "note": note}
    # absolute: run.json records these, and a run is resumed, measured and checked from any folder
    return ImageDataset(images, labels, labels_seen, [c.path for c in usable], skipped,
                        [os.path.abspath(r) for r in roots], info=info)
