"""benchmarks/distributed.py --smoke runs: 1 vs 2 processes, images/s and the scaling."""

import importlib.util
from pathlib import Path


def test_distributed_benchmark_smoke(capsys):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "distributed.py"
    spec = importlib.util.spec_from_file_location("bench_distributed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--smoke", "--threads", "2"])
    for key in ("one_process_all_cores", "one_process_share", "n_processes", "speedup", "efficiency"):
        assert result[key] > 0, key
    assert "scaling efficiency" in capsys.readouterr().out
