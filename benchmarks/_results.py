"""Every benchmark's figures as a JSON file beside the README that quotes them.

    from benchmarks._results import Results
    rec = Results("equal_time", seeds=[args.seed], smoke=args.smoke)   # at the start: load, clock
    ...
    path = rec.save({"rows": rows}, settings=vars(args))               # at the end

`save` writes `benchmarks/results/<name>.json` (or `<name>-<variant>.json`) with the figures and what
is needed to trust them: the exact command, the commit (and whether the tree had local changes), the
machine (CPU, cores, torch, threads, GPU), the load average at the start and the end (the machine may
be shared), the seeds, the wall and CPU seconds, the date. `--smoke` runs write to the temporary
folder instead, so a smoke run (the test suite runs them all) never overwrites a committed result.

Commit the JSON with the README change that quotes it; README figure tables cite it by path
(tests/test_readme_results.py fails when a cited file does not exist).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def commit() -> dict:
    """The commit the code ran at, and whether tracked files had uncommitted changes."""
    head = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": head, "dirty": bool(status) if status is not None else None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "system": platform.platform(),
            "python": platform.python_version()}
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpus"] = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - the record must not fail over a missing optional detail
        pass
    return info


def command(argv: list[str] | None = None) -> str:
    """The command line as typed from the repository root (script path made relative)."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        try:
            argv[0] = str(Path(argv[0]).resolve().relative_to(ROOT))
        except ValueError:
            pass
    return "python " + shlex.join(argv)


def _plain(value):
    """JSON-safe: NaN/inf become null, paths and other objects their str, tuples lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    try:                                   # numpy / torch scalars
        return _plain(value.item())
    except (AttributeError, ValueError, TypeError):
        return str(value)


class Results:
    """Started when the benchmark starts (load and clocks), saved once at the end."""

    def __init__(self, name: str, *, seeds=None, smoke: bool = False, argv: list[str] | None = None):
        if not _NAME.match(name):
            raise ValueError(f"results name {name!r}: letters, digits, '_', '-', '.' only")
        self.name, self.seeds, self.smoke = name, list(seeds or []), smoke
        self.argv = list(sys.argv if argv is None else argv)
        self.started = _dt.datetime.now(_dt.timezone.utc)
        self.load_start = _load()
        self.commit = commit()             # the code as it was when the benchmark started
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def path(self, variant: str | None = None) -> Path:
        name = f"{self.name}-{variant}" if variant else self.name
        if not _NAME.match(name):
            raise ValueError(f"results variant {variant!r}: letters, digits, '_', '-', '.' only")
        folder = Path(tempfile.gettempdir()) / "genstudio-smoke-results" if self.smoke else RESULTS
        return folder / f"{name}.json"

    def record(self, figures, *, settings: dict | None = None, notes: str = "") -> dict:
        return _plain({
            "benchmark": self.name,
            "command": command(self.argv),
            **self.commit,
            "date": self.started.isoformat(timespec="seconds"),
            "machine": machine(),
            "load": {"start": self.load_start, "end": _load(), "cores": os.cpu_count()},
            "seeds": self.seeds,
            "seconds": {"wall": round(time.perf_counter() - self._wall, 2),
                        "cpu": round(time.process_time() - self._cpu, 2)},
            "smoke": self.smoke,
            "settings": settings or {},
            "notes": notes,
            "figures": figures,
        })

    def save(self, figures, *, settings: dict | None = None, notes: str = "", variant: str | None = None,
             quiet: bool = False) -> Path:
        """Write the record atomically; returns its path (printed unless quiet)."""
        path = self.path(variant)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.record(figures, settings=settings, notes=notes), indent=1, sort_keys=False)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)
        if not quiet:
            print(f"results: {path}", flush=True)
        return path


class _Tee:
    """Writes go to the stream and into a buffer (what a benchmark prints is its figures too)."""

    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, text):
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _seeds_in(argv: list[str]) -> list:
    seeds: list = []
    for i, arg in enumerate(argv):
        key, eq, value = arg.partition("=")
        if key in ("--seed", "--seeds", "--compare-seed"):
            text = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
            seeds += [int(v) if v.strip().lstrip("-").isdigit() else v for v in text.split(",") if v.strip()]
    return seeds


def _variant(argv: list[str]) -> tuple[str | None, list[str]]:
    """`--results-variant NAME` (or `=NAME`) taken out of argv: the record goes to NAME's file."""
    variant, rest, i = None, [], 0
    while i < len(argv):
        key, eq, value = argv[i].partition("=")
        if key == "--results-variant":
            if not eq:
                i += 1
                value = argv[i] if i < len(argv) else ""
            variant = value
        else:
            rest.append(argv[i])
        i += 1
    return variant, rest


def record_run(name: str, main, argv: list[str] | None = None) -> int:
    """Run a benchmark's `main()` and record what it printed (and returned, when that is a dict) in
    benchmarks/results/NAME.json: for benchmarks whose figures are printed text. Returns the exit
    code for sys.exit; a benchmark that fails writes no record. `--results-variant V` (taken out of
    the arguments before the benchmark reads them) writes NAME-V.json instead, so several runs of
    one benchmark (other sizes, families, settings) each keep their record."""
    argv = list(sys.argv if argv is None else argv)
    rec = Results(name, seeds=_seeds_in(argv[1:]), smoke="--smoke" in argv, argv=argv)
    variant, rest = _variant(argv)
    rec.path(variant)                      # a bad variant name fails before the benchmark runs
    tee = _Tee(sys.stdout)
    sys.stdout, saved_argv = tee, sys.argv
    sys.argv = rest                        # the benchmark's own parser never sees --results-variant
    try:
        returned = main()
    finally:
        sys.stdout, sys.argv = tee.stream, saved_argv
    code = returned if isinstance(returned, int) else 0
    if code == 0:
        figures = {"printed": "".join(tee.parts)}
        if isinstance(returned, dict):
            figures["returned"] = returned
        rec.save(figures, notes="the figures as the benchmark printed them", variant=variant)
    return code


def scratch_folder(prefix: str) -> Path:
    """A new temporary folder for what a run writes only to be looked at or thrown away (a --smoke run's
    grids and runs, a private image cache), removed when the process exits: smoke runs (the test suite
    runs them all) leave nothing behind in the temporary folder."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def load(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
