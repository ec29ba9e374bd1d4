"""Every benchmark keeps running: each script's --smoke mode (tiny sizes, a second or two of work) runs
here, in this process, so a refactor that breaks a benchmark fails the suite instead of rotting.
Benchmarks with a test of their own (they check their printed figures too) are left to it."""

import runpy
import sys
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
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    except SystemExit as exc:
        assert exc.code in (0, None), f"{script} --smoke exited with {exc.code}: {capsys.readouterr().err[-2000:]}"
    finally:
        torch.set_num_threads(threads)
    assert capsys.readouterr().out.strip(), f"{script} --smoke printed nothing"
