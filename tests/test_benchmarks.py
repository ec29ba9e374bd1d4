"""Every benchmark keeps running: each script's --smoke mode (tiny sizes, a second or two of work) runs
here, in this process, so a refactor that breaks a benchmark fails the suite instead of rotting.
Benchmarks with a test of their own (they check their printed figures too) are left to it."""

import os
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
OWN_TESTS = {"distributed.py", "equal_time.py"}


# _-prefixed files are helpers the benchmarks share (benchmarks/_results.py), not benchmarks
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name not in OWN_TESTS and not p.name.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_smoke_mode_runs(script, monkeypatch, tmp_path, capsys):
    source = (BENCHMARKS / script).read_text()
    assert "--smoke" in source, f"{script} has no --smoke mode"
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / script), "--smoke"])
    monkeypatch.chdir(tmp_path)  # anything a benchmark writes beside it stays in the test's folder
    scratch = tmp_path / "tmp"   # and so does what it puts in the temporary folder (scratch_folder, mkdtemp)
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    threads, environ = torch.get_num_threads(), dict(os.environ)
    try:
        runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    except SystemExit as exc:
        assert exc.code in (0, None), f"{script} --smoke exited with {exc.code}: {capsys.readouterr().err[-2000:]}"
    finally:
        torch.set_num_threads(threads)
        os.environ.clear()       # a benchmark's GENSTUDIO_CACHE or scratch workspace is not the next test's
        os.environ.update(environ)
    assert capsys.readouterr().out.strip(), f"{script} --smoke printed nothing"


def test_a_smoke_runs_scratch_folder_is_gone_when_the_process_exits(tmp_path):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from benchmarks._results import scratch_folder; "
            "p = scratch_folder('leak-check-'); (p / 'grid.png').write_bytes(b'x'); print(p)")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    made = subprocess.run([sys.executable, "-c", code, str(BENCHMARKS.parent)], capture_output=True, text=True,
                          env=env, check=True, timeout=60).stdout.strip()
    assert made.startswith(str(tmp_path)) and not os.path.exists(made) and not list(tmp_path.iterdir())
