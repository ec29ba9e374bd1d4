"""Check a bundle built by packaging/build.sh as a person would meet it: no Python setup on the PATH.

    python packaging/check_bundle.py dist/genstudio [--record] [--no-window] [--no-processes]

Prints the bundle's size, its start-up seconds (the real window under Xvfb when it is installed,
else offscreen), and trains a few steps from its command line, on one process and on two. With
--record the figures go to benchmarks/results/bundle.json (the README cites it). Exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def clean_env(home: Path) -> dict[str, str]:
    """No virtual environment, no source checkout on the import path, a throwaway workspace."""
    keep = ("HOME", "LANG", "LC_ALL", "TERM", "USER", "DISPLAY", "XAUTHORITY", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    venvs = {str(Path(sys.prefix) / "bin"), str(ROOT / ".venv" / "bin")}
    env["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                  if p and p not in venvs and ".venv" not in p)
    env.update(GENSTUDIO_WORKSPACE=str(home / "workspace"), GENSTUDIO_SETTINGS=str(home / "settings.ini"),
               GENSTUDIO_CACHE=str(home / "cache"), OMP_NUM_THREADS="1")
    return env


def run(cmd: list[str], env: dict, cwd: Path, timeout: float = 600) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return result, time.perf_counter() - start


def open_window(exe: Path, env: dict, cwd: Path, shot: Path) -> tuple[subprocess.CompletedProcess, float, str]:
    if shutil.which("xvfb-run") and shutil.which("xauth"):
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", str(exe), "--smoke-launch", str(shot)]
        env = {**env, "QT_QPA_PLATFORM": "xcb"}
        env.pop("DISPLAY", None)
        where = "xcb"
    else:
        cmd = [str(exe), "--smoke-launch", str(shot)]
        env = {**env, "QT_QPA_PLATFORM": "offscreen"}
        where = "offscreen"
    result, seconds = run(cmd, env, cwd, timeout=300)
    return result, seconds, where


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/bundle.json")
    parser.add_argument("--no-window", action="store_true")
    parser.add_argument("--no-processes", action="store_true", help="skip the two-process training")
    parser.add_argument("--starts", type=int, default=2, help="window starts to time")
    args = parser.parse_args(argv)
    exe = args.bundle.resolve() / "genstudio"
    if not exe.is_file():
        print(f"check_bundle: {exe} does not exist (build it with bash packaging/build.sh)", file=sys.stderr)
        return 2
    figures: dict = {"bundle": str(args.bundle), "size_mb": round(folder_bytes(args.bundle) / 2**20, 1),
                     "files": sum(1 for p in args.bundle.rglob("*") if p.is_file())}
    print(f"bundle: {figures['size_mb']:.0f} MB in {figures['files']} files")
    failures = []
    with tempfile.TemporaryDirectory(prefix="genstudio-bundle-") as tmp:
        home = Path(tmp)
        env = clean_env(home)
        digits = args.bundle.resolve() / "_internal" / "assets" / "sample-digits"
        r, seconds = run([str(exe), "--help"], env, home, timeout=300)
        figures["help_s"] = round(seconds, 2)
        if r.returncode != 0 or "open the studio" not in r.stdout:
            failures.append(f"--help: {r.stderr[-500:]}")
        if not args.no_window:
            starts = []
            for i in range(args.starts):
                r, seconds, where = open_window(exe, env, home, home / f"window{i}.png")
                if r.returncode != 0 or "window opened" not in r.stdout:
                    failures.append(f"window: {r.stdout[-300:]} {r.stderr[-800:]}")
                    break
                starts.append(round(seconds, 2))
            figures["window"] = where
            figures["start_s"] = starts
            print(f"window on {where}: opened and closed in {', '.join(f'{s:.1f}' for s in starts)} s")
        r, seconds = run([str(exe), "train", "--family", "dcgan", "--data", str(digits), "--size", "16",
                          "--steps", "4", "--batch-size", "16", "--out", str(home / "run1"), "--quiet"], env, home)
        figures["train_1_process_s"] = round(seconds, 2)
        if r.returncode != 0 or not (home / "run1" / "run.json").is_file():
            failures.append(f"train: {r.stdout[-500:]} {r.stderr[-1500:]}")
        else:
            print(f"trained 4 steps from the bundle's CLI in {seconds:.1f} s")
        if not args.no_processes:
            r, seconds = run([str(exe), "train", "--family", "dcgan", "--data", str(digits), "--size", "16",
                              "--steps", "4", "--batch-size", "16", "--out", str(home / "run2"), "--quiet",
                              "--nproc-per-node", "2"], env, home)
            figures["train_2_processes_s"] = round(seconds, 2)
            if r.returncode != 0 or not (home / "run2" / "run.json").is_file():
                failures.append(f"train on 2 processes: {r.stdout[-500:]} {r.stderr[-1500:]}")
            else:
                print(f"trained 4 steps on 2 processes from the bundle in {seconds:.1f} s")
    figures["ok"] = not failures
    for f in failures:
        print(f"check_bundle: FAILED {f}", file=sys.stderr)
    if args.record:
        sys.path.insert(0, str(ROOT))
        from benchmarks._results import Results

        rec = Results("bundle", seeds=[])
        print(f"wrote {rec.save(figures, settings={'bundle': str(args.bundle)})}")
    print(json.dumps(figures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
