"""The one /proc/stat reader (engines/runtime/cpu_load.py) the thread tuner and the benchmarks share."""

from engines.runtime import cpu_load, thread_tuner


def test_idle_cores_between_two_readings():
    before = cpu_load.cpu_idle("cpu  1 1 1 1\ncpu0 10 0 0 100 0 0 0 0\ncpu1 10 0 0 100 0 0 0 0\n", {0, 1})
    after = cpu_load.cpu_idle("cpu  1 1 1 1\ncpu0 60 0 0 150 0 0 0 0\ncpu1 10 0 0 200 0 0 0 0\n", {0, 1})
    assert before == (200.0, 220.0, 2) and after == (350.0, 420.0, 2)
    assert cpu_load.idle_cores(before, after) == 2 * 150 / 200   # cpu0 half busy, cpu1 idle: 1.5 idle cores
    assert cpu_load.idle_cores(None, after) is None and cpu_load.idle_cores(after, before) is None
    assert thread_tuner.cpu_idle is cpu_load.cpu_idle             # the tuner's witness is this reader
    live = cpu_load.cpu_idle()                                    # this machine: read, or None off Linux
    assert live is None or (live[2] >= 1 and 0 <= live[0] <= live[1])
