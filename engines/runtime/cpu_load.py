"""How busy the CPUs this process may run on are, read from /proc/stat (Linux; None elsewhere).

    before = cpu_idle()
    ...                                   # some work
    idle_cores(before, cpu_idle())        # cores that stayed idle meanwhile, e.g. 1.6 of 2

The thread tuner (thread_tuner.py) uses it to tell a free machine from a busy one; benchmarks use it
to record how busy the machine was while they measured.
"""

from __future__ import annotations

import os


def usable_cpus() -> set[int] | None:
    """The CPU numbers this process may run on (its affinity); None where it cannot be known."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def cpu_idle(stat: str | None = None, cpus: set[int] | None = None) -> tuple[float, float, int] | None:
    """(idle, total, cpus): idle and total time so far (clock ticks) summed over the CPUs this
    process may run on, from /proc/stat (idle + iowait is idle; steal, a hypervisor's, is not);
    idle cores over an interval are cpus × Δidle / Δtotal (idle_cores). None where it cannot be read."""
    try:
        if stat is None:
            with open("/proc/stat") as f:
                stat = f.read()
        cpus = usable_cpus() if cpus is None else cpus
        idle = total = 0
        n = 0
        for line in stat.splitlines():
            if not line.startswith("cpu") or line[3:4] == " ":
                continue
            name, *fields = line.split()
            if cpus is not None and int(name[3:]) not in cpus:
                continue
            ticks = [int(x) for x in fields[:8]]   # user nice system idle iowait irq softirq steal
            idle += ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            total += sum(ticks)
            n += 1
        return (float(idle), float(total), n) if n and total else None
    except (OSError, ValueError, IndexError):
        return None


def idle_cores(before: tuple[float, float, int] | None, after: tuple[float, float, int] | None) -> float | None:
    """Cores (of those this process may use) that stayed idle between two cpu_idle() readings;
    None when either is missing or no time passed."""
    if not before or not after or after[1] <= before[1]:
        return None
    return after[2] * (after[0] - before[0]) / (after[1] - before[1])
