"""benchmarks/equal_time.py --smoke: families trained for the same CPU seconds, every measure printed."""

import importlib.util
from pathlib import Path

from engines.train import loop


def test_equal_time_benchmark_smoke(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(loop, "_now", loop._now)  # the benchmark swaps in a CPU clock: undone after
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "equal_time.py"
    spec = importlib.util.spec_from_file_location("equal_time", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--smoke", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| family | steps | train s | FD") and len(table) == 4
    for line, family in zip(table[2:], ("dcgan", "vae")):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == family and int(cells[1].replace(",", "")) > 0
        assert 0.9 <= float(cells[2]) <= 3  # stopped by the 1 CPU-s budget
    assert "classifier of the run's data" in out
