"""genstudio scan FOLDER ... : what ingestion would use and skip, and why (fills the cache too)."""

from __future__ import annotations

import json
import sys
import time

from ..data import FIT_MODES, MAX_SIZE, MIN_SIZE, load_images
from ..names import printable


def add_parser(sub) -> None:
    p = sub.add_parser("scan", help="report usable and skipped images in folders (and cache them)")
    p.add_argument("sources", nargs="+", metavar="FOLDER", help="image folders or files")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--size", type=int, default=32, help=f"image size in pixels, {MIN_SIZE}-{MAX_SIZE} (default 32)")
    p.add_argument("--channels", type=int, choices=(1, 3), help="1 grey or 3 RGB (default: from the data)")
    p.add_argument("--fit", choices=FIT_MODES, default="center-crop", help="how images are made square")
    p.add_argument("--background", default="#ffffff", help="colour behind transparency, #rrggbb")
    p.add_argument("--no-cache", action="store_true", help="decode without reading or writing the cache")


def _progress_printer(enabled: bool):
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if enabled and (now - last[0] > 0.5 or done == total):
            last[0] = now
            print(f"\rdecoding {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)
    return show


def run(args) -> int:
    t0 = time.perf_counter()
    data = load_images(args.sources, size=args.size, channels=args.channels, fit=args.fit,
                       background=args.background, use_cache=not args.no_cache, allow_empty=True,
                       progress=_progress_printer(not args.json and sys.stderr.isatty()))
    seconds = time.perf_counter() - t0
    skipped = sorted(data.skipped, key=lambda s: s.path)
    if args.json:
        print(json.dumps({"images": len(data), "classes": data.class_counts(), "size": data.size,
                          "channels": data.channels, "formats": data.info.get("formats", {}),
                          "modes": data.info.get("modes", {}), "width": data.info.get("width", []),
                          "height": data.info.get("height", []), "cache": data.info.get("cache"),
                          "note": data.info.get("note", ""), "seconds": round(seconds, 3),
                          "skipped": [{"path": s.path, "reason": s.reason} for s in skipped]}, indent=1))
        return 0
    print(f"{data.summary()} ({seconds:.2f}s, cache {data.info.get('cache')})")
    for name, count in data.class_counts().items():
        print(f"  class {name}: {count}")
    if data.info.get("note"):
        print(f"  note: {data.info['note']}")
    if len(data):
        fmts = ", ".join(f"{k} {v}" for k, v in sorted(data.info["formats"].items()))
        modes = ", ".join(f"{k} {v}" for k, v in sorted(data.info["modes"].items()))
        w, h = data.info["width"], data.info["height"]
        print(f"  formats: {fmts}; modes: {modes}")
        print(f"  original sizes: width {w[0]}-{w[2]} (median {w[1]}), height {h[0]}-{h[2]} (median {h[1]})")
    if skipped:
        print(f"skipped {len(skipped)}:")
        for s in skipped:
            print(printable(f"  {s.path}: {s.reason}"))  # a file name may hold control characters
    if not len(data):  # the scan itself completed (exit 0); say plainly what that means for training
        print("no usable images: training on " + ("this folder" if len(args.sources) == 1 else "these folders")
              + " would stop at once" + (" (the reasons are above)" if skipped else ""))
    return 0
