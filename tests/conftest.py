"""Suite-wide setup: offscreen Qt, a private image cache, and the tiers.

Tiers are markers given here, centrally, by where a test lives and what it uses, so a new test
lands in the right tier without a decorator (see the README's "Tests"):
- multiprocess: starts several training processes (torch.distributed, torchrun, the launcher)
- benchmark: runs a benchmark script's --smoke
- window: builds the studio's full main window
- slow: a test measured at several seconds on 2 cores (SLOW below; pytest --durations=15 shows new ones)
`bash scripts/test.sh --quick` leaves all four out; `bash scripts/test.sh` (what CI runs) runs everything.
"""

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import pytest  # noqa: E402

TIERS = ("multiprocess", "benchmark", "window", "slow")

# by file (relative to tests/); a file whose name says "distributed", "processes" or "nodes" is multiprocess too
MULTIPROCESS_FILES = {"engines/test_gradient_seam.py"}
MULTIPROCESS_WORDS = ("distributed", "processes", "nodes")
BENCHMARK_FILES = {"test_benchmarks.py", "engines/test_equal_time_benchmark.py",
                   "engines/test_benchmark_distributed.py"}
# by test id prefix (file::name), measured at several seconds each on a shared 2-core machine
SLOW: set[str] = set()

_window_modules: dict[str, bool] = {}


def _builds_main_window(path: Path) -> bool:
    key = str(path)
    if key not in _window_modules:
        try:
            _window_modules[key] = "MainWindow(" in path.read_text()
        except OSError:
            _window_modules[key] = False
    return _window_modules[key]


def tier_of(item) -> list[str]:
    root = Path(__file__).parent
    try:
        rel = Path(str(item.path)).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return []
    tiers = []
    if rel in MULTIPROCESS_FILES or any(w in Path(rel).name for w in MULTIPROCESS_WORDS):
        tiers.append("multiprocess")
    if rel in BENCHMARK_FILES:
        tiers.append("benchmark")
    if rel.startswith("studio/") and (any(f.endswith("window") for f in getattr(item, "fixturenames", ()))
                                      or _builds_main_window(Path(str(item.path)))):
        tiers.append("window")
    name = f"{rel}::{item.name}"
    if any(name == s or name.startswith(s + "[") or (s.endswith(".py") and rel == s) for s in SLOW):
        tiers.append("slow")
    return tiers


def pytest_collection_modifyitems(config, items):
    for item in items:
        for tier in tier_of(item):
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def _private_image_cache(tmp_path_factory, monkeypatch):
    """Ingestion caches decoded images; tests keep theirs out of the user's cache directory."""
    if "GENSTUDIO_CACHE" not in os.environ:
        monkeypatch.setenv("GENSTUDIO_CACHE", str(tmp_path_factory.getbasetemp() / "genstudio-cache"))


# --- CPU seconds per test (`--cpu-durations=N`): what choosing SLOW needs on a shared machine ----------
# Wall-clock durations there say more about the neighbours than about the test; this process's CPU
# time does not (child processes are not counted: the multiprocess tier is left out of --quick anyway).

def pytest_addoption(parser):
    parser.addoption("--cpu-durations", type=int, default=None, metavar="N",
                     help="list the N tests that used the most CPU seconds in this process, and the total")


_cpu: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    import time
    t0 = time.process_time()
    yield
    _cpu[item.nodeid] = time.process_time() - t0


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = config.getoption("--cpu-durations")
    if n is None or not _cpu:
        return
    rows = sorted(_cpu.items(), key=lambda kv: -kv[1])
    terminalreporter.write_sep("=", f"CPU seconds: {sum(_cpu.values()):.1f} over {len(_cpu)} tests")
    for nodeid, seconds in rows[:n]:
        terminalreporter.write_line(f"{seconds:8.2f}s  {nodeid}")


# Automatic CPU threads stay at one per core without probing: runs a test compares must not depend
# on how busy the machine is (tests of the tuner switch it on themselves). Subprocesses inherit it.
os.environ.setdefault("GENSTUDIO_THREAD_PROBE", "0")

# As engines/__init__.py does for every entry point: set before a test module imports torch first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
