"""How many CPU threads training uses: a setting (0 = automatic), resolved here and applied with
torch.set_num_threads on the thread that trains. Automatic is OMP_NUM_THREADS when set, else one thread
per physical core this process may run on (hyper-threads slow PyTorch's CPU kernels down, and a
machine under load gains nothing from oversubscription)."""

from __future__ import annotations

import os
from pathlib import Path


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def physical_cores(cpuinfo: str | None = None) -> int:
    """Physical cores (distinct physical id / core id pairs in /proc/cpuinfo), at most the CPUs this
    process may use; the logical count where that cannot be read."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    cores, physical, core = set(), "0", None
    for line in cpuinfo.splitlines() + [""]:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "physical id":
            physical = value
        elif key == "core id":
            core = value
        elif not key and core is not None:   # a blank line ends one processor's block
            cores.add((physical, core))
            physical, core = "0", None
    found = len(cores) or usable_cpus()
    return max(1, min(found, usable_cpus()))


def auto_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return physical_cores()


def resolve_threads(setting: int) -> int:
    """The thread count for a `threads` setting: itself when positive, automatic for 0."""
    return int(setting) if setting and setting > 0 else auto_threads()


def apply_threads(setting: int) -> int:
    """torch.set_num_threads for the calling thread's work; returns the count used."""
    import torch

    n = resolve_threads(setting)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
