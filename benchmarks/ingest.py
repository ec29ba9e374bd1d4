"""Ingestion speed and memory, measured against a naive single-threaded Pillow loop in the same run.

    nice -n 10 /work/main/.venv/bin/python benchmarks/ingest.py [--n 3000] [--size 64] [--workers N]

Builds (once, then reuses) a folder of JPEG photos-like images (800x600) and PNG graphics (256x256),
then, each in a fresh subprocess so peak memory is measured cleanly:
  naive   : open, exif_transpose, convert, ImageOps.fit, np.asarray, np.stack (one thread)
  ingest  : engines.data.load_images into an empty cache (all workers, and workers=1)
  reopen  : load_images again with the cache in place (median of 5)
Peak memory is the growth of peak RSS (VmHWM, reset before the call), compared with the decoded array's size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_folder(folder: Path, n: int) -> Path:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    marker = folder / f".complete-{n}"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        cls = folder / f"class{i % 4}"
        cls.mkdir(parents=True, exist_ok=True)
        if i % 3 < 2:   # photo-like JPEG: smooth colour field plus grain
            small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
            img = Image.fromarray(small).resize((800, 600), Image.Resampling.BICUBIC)
            grain = rng.normal(0, 6, (600, 800, 1))
            img = Image.fromarray(np.clip(np.asarray(img) + grain, 0, 255).astype(np.uint8))
            img.save(cls / f"{i:05d}.jpg", quality=88)
        else:           # graphics-like PNG: shapes on a plain background
            img = Image.new("RGB", (256, 256), tuple(int(v) for v in rng.integers(150, 255, 3)))
            draw = ImageDraw.Draw(img)
            for _ in range(6):
                x, y = rng.integers(0, 200, 2)
                draw.ellipse([int(x), int(y), int(x) + 50, int(y) + 40],
                             fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
            img.filter(ImageFilter.SMOOTH).save(cls / f"{i:05d}.png")
    marker.write_text("ok")
    return folder


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss_kb() -> int:
    """Reset the peak-RSS mark (Linux: clear_refs 5) and return the current RSS, so imports don't count."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS") or 0
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss_kb() -> int:
    return _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(mode: str, folder: str, cache: str, size: int, workers: int | None) -> dict:
    import numpy as np
    from PIL import Image, ImageOps

    from engines.data import load_images

    base = _reset_peak_rss_kb()
    t0 = time.perf_counter()
    if mode == "naive":
        arrays = []
        for path in _files(Path(folder)):
            with Image.open(path) as im:
                im = ImageOps.exif_transpose(im).convert("RGB")
                arrays.append(np.asarray(ImageOps.fit(im, (size, size), Image.Resampling.BILINEAR)))
        images = np.stack(arrays)
        n, nbytes = len(images), images.nbytes
        seconds = time.perf_counter() - t0
    elif mode == "ingest":
        data = load_images([folder], size=size, channels=3, cache_dir=cache, workers=workers)
        seconds = time.perf_counter() - t0
        n, nbytes = len(data), data.images.nbytes
        assert data.info["cache"] == "built", data.info
    else:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            data = load_images([folder], size=size, channels=3, cache_dir=cache)
            times.append(time.perf_counter() - t0)
            assert data.info["cache"] == "hit", data.info
        seconds, n, nbytes = statistics.median(times), len(data), data.images.nbytes
    peak_kb = _peak_rss_kb() - base
    return {"mode": mode, "seconds": seconds, "images": n, "array_mb": nbytes / 2**20, "peak_growth_mb": peak_kb / 1024}


def run_child(mode: str, folder: Path, cache: Path, size: int, workers: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--folder", str(folder), "--cache", str(cache),
           "--size", str(size)] + (["--workers", str(workers)] if workers else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--child")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and a second or two of work: checks the script still runs (the suite runs it)")
    args = ap.parse_args()
    if args.smoke:
        args.n, args.size = 24, 16
    if args.child:
        print(json.dumps(child(args.child, str(args.folder), str(args.cache), args.size, args.workers)))
        return
    folder = args.folder or Path(tempfile.gettempdir()) / f"genstudio-bench-ingest-{args.n}"
    t0 = time.perf_counter()
    build_folder(folder, args.n)
    files = _files(folder)
    size_mb = sum(p.stat().st_size for p in files) / 2**20
    print(f"folder: {folder} ({len(files)} files, {size_mb:.0f} MB; ready in {time.perf_counter() - t0:.0f}s); "
          f"{os.cpu_count()} CPUs (shared machine: timings are noisy, compare ratios)")
    with tempfile.TemporaryDirectory() as tmp:
        naive = run_child("naive", folder, Path(tmp) / "unused", args.size, None)
        one = run_child("ingest", folder, Path(tmp) / "c1", args.size, 1)
        first = run_child("ingest", folder, Path(tmp) / "c2", args.size, args.workers)
        reopen = run_child("reopen", folder, Path(tmp) / "c2", args.size, None)
    for r in (naive, one, first, reopen):
        print(f"{r['mode']:7s} {r['images']:5d} images  {r['seconds']:8.3f} s  {r['images'] / r['seconds']:9.0f} img/s"
              f"  peak +{r['peak_growth_mb']:6.1f} MB  (array {r['array_mb']:.1f} MB)")
    print(f"ingest vs naive (all workers): {naive['seconds'] / first['seconds']:.2f}x   "
          f"(workers=1: {naive['seconds'] / one['seconds']:.2f}x)   goal >= 2x")
    print(f"cached reopen vs first ingest: {first['seconds'] / reopen['seconds']:.0f}x   goal >= 50x")
    print(f"peak memory growth during ingest: {first['peak_growth_mb']:.1f} MB for a {first['array_mb']:.1f} MB array"
          f" ({first['peak_growth_mb'] / first['array_mb']:.2f}x); naive loop: {naive['peak_growth_mb']:.1f} MB")


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/ingest.json
    if "--child" in sys.argv:   # a measuring child process: its parent records
        main()
    else:
        sys.exit(record_run("ingest", main))
