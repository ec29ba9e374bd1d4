"""Event-loop lateness of the studio while a DCGAN trains in the background.

    nice -n 10 .venv/bin/python benchmarks/ui_latency.py [--seconds 30] [--size 32] [--batch 64] [--checkpoint-every 25] [--variant NAME]
    nice -n 10 .venv/bin/python benchmarks/ui_latency.py --profile gui.pstats   # where the GUI thread spends it
    nice -n 10 .venv/bin/python benchmarks/ui_latency.py --stall-stacks         # what the long stalls were doing

Opens the real main window (offscreen unless a display is available), loads the sample digits,
starts training into a run folder of a throwaway workspace, with a checkpoint every 25 steps (the explorer
panels follow the run: they open it at its first checkpoint, and the shared model loads it), and runs a
QTimer probe every 10 ms: lateness = how much later than due each tick
fires. Also measures the same probe for a few seconds before training starts (the idle baseline).
Prints p50 / p99 / max in milliseconds. Goal while training: p99 <= 16 ms, max <= 100 ms.

Where lateness comes from: each tick later than 16 ms has its interval split into the GUI thread's own
CPU time (painting, event handling), its wait for a core (Linux schedstat: the machine's load, or the
training thread at the same priority) and its sleep (idle until the tick was due, or waiting for the GIL);
the five latest ticks are listed the same way. The GUI thread's CPU time per second does not depend on
the machine's load: compare it across runs on a shared machine.

A cProfile sums everything; `--stall-stacks` catches the long stalls in the act instead: a watchdog thread
samples the GUI thread's Python stack (sys._current_frames) every few milliseconds once the probe has not
ticked for STALL_MS, and keeps the stacks of each stall with its length and the GUI thread's CPU time in
it; the garbage collector's collections are timed too (gc.callbacks, on whichever thread ran them), and
one full collection on the GUI thread right after the probe, while training still runs (what an automatic
one costs at that moment: it walks every object the collector tracks and is not frozen). A
stack whose innermost frame is an event loop's exec means C++ work (Qt painting, layout) with no Python
frame under it. The stalls go into the results JSON under "stalls" and "gc".
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

PROBE_MS = 10


GUI_CPU: dict[str, float] = {}   # CPU seconds the GUI thread used during each probe (load-independent)
LATE_MS = 16.0                    # a tick later than this counts as a stutter in the attribution
ATTRIBUTION: dict[str, dict] = {}


_SCHEDSTAT: dict[int, int] = {}


def _thread_clock() -> tuple[float, float]:
    """(CPU seconds, seconds waiting for a core in the run queue) of the calling thread (Linux schedstat,
    read through a descriptor kept open: about a microsecond; the run-queue share is 0 elsewhere). What is
    left of a late tick's interval is time the thread slept although work was due (the GIL, another lock)
    or idled in the event loop before it was."""
    tid = threading.get_native_id()
    try:
        if tid not in _SCHEDSTAT:
            _SCHEDSTAT[tid] = os.open(f"/proc/self/task/{tid}/schedstat", os.O_RDONLY)
        cpu_ns, wait_ns, _ = os.pread(_SCHEDSTAT[tid], 128, 0).split()
        return int(cpu_ns) / 1e9, int(wait_ns) / 1e9
    except (OSError, ValueError):
        _SCHEDSTAT[tid] = -1
        return time.thread_time(), 0.0


STALL_MS = 40.0                   # --stall-stacks: the probe has not ticked for this long: sample the GUI stack


class StallWatch:
    """A watchdog thread that samples the GUI thread's Python stack while the event loop is stalled (see
    the module docstring), and times the garbage collector's collections."""

    def __init__(self, sample_ms: float = 5.0):
        import gc
        self.gui_ident = threading.get_ident()
        self.gui_tid = threading.get_native_id()
        self.sample_s = sample_ms / 1000
        self.last_tick: float | None = None   # None until the probe's first tick: what comes before is setup
        self.last_cpu = _thread_clock()
        self.stalls: list[dict] = []
        self.collections: list[dict] = []
        self.events: list[tuple[str, float]] = []   # (kind, perf_counter) of the studio's events: which stall had which
        self._current: dict | None = None
        self._gc_start: dict[int, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="stall-watch", daemon=True)
        self._gc = gc

    def start(self) -> None:
        self.objects = {"tracked_at_start": len(self._gc.get_objects()), "frozen": self._gc.get_freeze_count()}
        self._gc.callbacks.append(self._on_gc)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._on_gc in self._gc.callbacks:
            self._gc.callbacks.remove(self._on_gc)
        self.objects["tracked_at_end"] = len(self._gc.get_objects())

    def _on_gc(self, phase: str, info: dict) -> None:   # runs on the thread that collects
        tid = threading.get_ident()
        if phase == "start":
            self._gc_start[tid] = (time.perf_counter(), time.thread_time())
            return
        t0, c0 = self._gc_start.pop(tid, (None, None))
        if t0 is None:
            return
        ms = 1000 * (time.perf_counter() - t0)
        self.collections.append({"generation": info.get("generation"), "ms": round(ms, 2),
                                 "cpu_ms": round(1000 * (time.thread_time() - c0), 2),
                                 "collected": info.get("collected"),
                                 "gui_thread": tid == self.gui_ident,
                                 "at_s": round(t0, 3)})

    def mark(self, kind: str) -> None:   # on the GUI thread: a studio event (checkpoint, sample grid) arrived
        self.events.append((kind, time.perf_counter()))

    def tick(self) -> None:   # on the GUI thread, from the probe
        now = time.perf_counter()
        cpu = _thread_clock()
        with self._lock:
            current, self._current = self._current, None
            if current is not None:
                current["gap_ms"] = round(1000 * (now - current["since"]), 1)
                current["gui_cpu_ms"] = round(1000 * (cpu[0] - current["cpu0"][0]), 1)
                current["runqueue_ms"] = round(1000 * (cpu[1] - current["cpu0"][1]), 1)
                self.stalls.append(current)
            self.last_tick, self.last_cpu = now, cpu

    def _run(self) -> None:
        while not self._stop.wait(self.sample_s):
            now = time.perf_counter()
            with self._lock:
                if self.last_tick is None or now - self.last_tick < STALL_MS / 1000:
                    continue
                if self._current is None:
                    self._current = {"since": self.last_tick, "cpu0": self.last_cpu, "samples": {}}
                frame = sys._current_frames().get(self.gui_ident)
                if frame is None:
                    continue
                stack = []
                while frame is not None and len(stack) < 40:   # innermost first
                    code = frame.f_code
                    stack.append(f"{Path(code.co_filename).name}:{frame.f_lineno} {code.co_name}")
                    frame = frame.f_back
                stack = tuple(stack)
                samples = self._current["samples"]
                samples[stack] = samples.get(stack, 0) + 1

    def report(self, min_gap_ms: float = 50.0) -> dict:
        stalls = []
        for s in sorted(self.stalls, key=lambda s: -s["gap_ms"]):
            if s["gap_ms"] < min_gap_ms:
                continue
            stacks = sorted(s["samples"].items(), key=lambda kv: -kv[1])
            gcs = [c for c in self.collections if s["since"] <= c["at_s"] <= s["since"] + s["gap_ms"] / 1000]
            end = s["since"] + s["gap_ms"] / 1000
            events = sorted({k for k, t in self.events if s["since"] <= t <= end + 0.05})
            stalls.append({"gap_ms": s["gap_ms"], "gui_cpu_ms": s["gui_cpu_ms"], "runqueue_ms": s["runqueue_ms"],
                           "gc_in_it": gcs, "events_in_it": events,
                           "stacks": [{"samples": n, "stack": list(st)} for st, n in stacks[:6]]})
        by_gen: dict[int, list[float]] = {}
        for c in self.collections:
            by_gen.setdefault(c["generation"], []).append(c["ms"])
        gc_summary = {f"gen{g}": {"count": len(v), "max_ms": round(max(v), 1), "total_ms": round(sum(v), 1)}
                      for g, v in sorted(by_gen.items())}
        slow = sorted((c for c in self.collections if c["ms"] > 10), key=lambda c: -c["ms"])[:10]
        return {"stalls": stalls, "gc": {"by_generation": gc_summary, "slowest": slow, "objects": self.objects,
                                         "full_collection": full_collection()}}


def full_collection() -> dict:
    """One full collection on the GUI thread, timed (wall and CPU ms): what an automatic one costs now,
    whether or not one happened during the probe. Run after it, while training still runs."""
    import gc
    t0, c0 = time.perf_counter(), time.thread_time()
    gc.collect()
    return {"ms": round(1000 * (time.perf_counter() - t0), 1), "cpu_ms": round(1000 * (time.thread_time() - c0), 1),
            "tracked": len(gc.get_objects()), "frozen": gc.get_freeze_count()}


def _threads() -> dict[int, tuple[str, int, float]]:
    """{thread id: (name, nice, CPU seconds)} of this process's threads (Linux /proc; empty elsewhere)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for task in Path("/proc/self/task").glob("*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        # fields from the state on: utime, stime are the 12th, 13th; nice the 17th (0-based 11, 12, 16)
        out[int(task.name)] = (name, int(fields[16]), (int(fields[11]) + int(fields[12])) / tick)
    return out


def thread_report(before: dict, after: dict) -> list[dict]:
    """The threads that ran during the probe: name, nice, CPU seconds in it (the GUI thread is nice 0)."""
    rows = []
    for tid, (name, nice, cpu) in after.items():
        used = cpu - before.get(tid, (name, nice, 0.0))[2]
        if used > 0:
            rows.append({"tid": tid, "name": name, "nice": nice, "cpu_s": round(used, 2),
                         "gui": tid == threading.get_native_id()})
    return sorted(rows, key=lambda r: -r["cpu_s"])


def run_probe(app, seconds: float, name: str = "", watch: StallWatch | None = None) -> np.ndarray:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer
    clock = QElapsedTimer()
    late: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(PROBE_MS)
    state = {"due": 0.0, "prev": 0.0, "clock": _thread_clock()}
    # each late tick's interval since the previous tick (PROBE_MS + its lateness), split into the GUI
    # thread's own CPU time, time it waited for a core (the machine's load) and time it slept: idle in the
    # event loop (PROBE_MS at most) or waiting for the GIL
    worst: list[tuple[float, float, float, float]] = []
    parts = {"late_ticks": 0, "late_ms": 0.0, "cpu_ms": 0.0, "runqueue_ms": 0.0, "slept_ms": 0.0}

    def tick():
        now = clock.nsecsElapsed() / 1e6
        lateness = max(0.0, now - state["due"])
        late.append(lateness)
        if watch is not None:
            watch.tick()
        cpu, runq = _thread_clock()
        if lateness > LATE_MS and len(late) > 1:
            cpu_ms, runq_ms = 1000 * (cpu - state["clock"][0]), 1000 * (runq - state["clock"][1])
            parts["late_ticks"] += 1
            parts["late_ms"] += lateness
            parts["cpu_ms"] += cpu_ms
            parts["runqueue_ms"] += runq_ms
            slept_ms = max(0.0, (now - state["prev"]) - cpu_ms - runq_ms)
            parts["slept_ms"] += slept_ms
            worst.append((round(lateness, 1), round(cpu_ms, 1), round(runq_ms, 1), round(slept_ms, 1)))
        state["due"], state["prev"], state["clock"] = now + PROBE_MS, now, (cpu, runq)

    loop = QEventLoop()
    timer.timeout.connect(tick)
    clock.start()
    state["due"] = PROBE_MS
    timer.start()
    QTimer.singleShot(int(seconds * 1000), loop, loop.quit)
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    loop.exec()
    GUI_CPU[name] = (time.thread_time() - cpu0) / max(time.perf_counter() - wall0, 1e-9)
    timer.stop()
    ATTRIBUTION[name] = {k: round(v, 1) for k, v in parts.items()}
    # the five latest ticks: [lateness, GUI CPU, run queue, slept] ms in each one's interval
    ATTRIBUTION[name]["worst"] = sorted(worst, reverse=True)[:5]
    return np.asarray(late[1:])


def summary(name: str, late: np.ndarray) -> str:
    return (f"{name}: {len(late)} ticks, lateness p50 {np.percentile(late, 50):.1f} ms, "
            f"p99 {np.percentile(late, 99):.1f} ms, max {late.max():.1f} ms")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--checkpoint-every", type=int, default=25,
                   help="steps between checkpoints of the run (0: none until it ends, and no run folder: the "
                        "run trains in memory). The run trains into a run folder of a throwaway workspace, so "
                        "what the panels do on a checkpoint (the explorer panels opening the run at its first, "
                        "the shared model loading it) is measured too")
    p.add_argument("--prefill", type=int, default=300_000,
                   help="points per loss curve added (at negative steps) before the probe, to load the plot")
    p.add_argument("--variant", default="", help="save as benchmarks/results/ui_latency-VARIANT.json (paired runs)")
    p.add_argument("--profile", default="", help="write a cProfile of the GUI thread during the probe here (.pstats)")
    p.add_argument("--stall-stacks", action="store_true",
                   help="sample the GUI thread's Python stack during each stall of the event loop and time the "
                        "garbage collector's collections: printed, and saved under 'stalls' and 'gc'")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and a second or two of work: checks the script still runs (the suite runs it)")
    a = p.parse_args()
    if a.smoke:
        a.seconds, a.size, a.batch, a.prefill = 2, 16, 8, 1000
    from benchmarks._results import Results
    rec = Results("ui_latency", smoke=a.smoke)
    import torch
    torch.set_num_threads(a.threads)
    from PySide6.QtCore import QEventLoop, QTimer

    from studio.app import scratch_window

    app, window = scratch_window("genstudio-latency-")
    state = window.state
    window.panels["dataset"].size_box.setValue(a.size)
    loop = QEventLoop()
    state.dataset_changed.connect(loop.quit)
    state.load_sample()
    loop.exec()

    idle = run_probe(app, 3, "idle")
    settings = window.panels["model"].settings_form
    settings.editor("steps").setValue(1_000_000)
    settings.editor("batch_size").setValue(a.batch)
    settings.editor("sample_every").setValue(50)   # frequent gallery refreshes: the worst case for the UI
    settings.editor("log_every").setValue(1)       # a Progress event (and curve points) every step
    settings.editor("checkpoint_every").setValue(a.checkpoint_every)
    counts = {"progress": 0, "samples": 0, "checkpoints": 0}
    state.progress.connect(lambda e: counts.__setitem__("progress", counts["progress"] + 1))
    state.samples.connect(lambda e: counts.__setitem__("samples", counts["samples"] + 1))
    state.checkpoint.connect(lambda e: counts.__setitem__("checkpoints", counts["checkpoints"] + 1))
    # a run folder in the scratch workspace (as the Start button makes one), or none: in memory
    state.start(out_dir="auto" if a.checkpoint_every else None)
    first = QEventLoop()
    state.progress.connect(first.quit)
    first.exec()                                   # measure once steps are flowing
    if a.prefill:
        # A long run's worth of points on every loss curve, so each redraw handles a big series.
        losses = window.panels["losses"].losses
        rng = np.random.default_rng(0)
        xs = np.arange(-a.prefill, 0, dtype=np.float64)
        for name in list(losses.series):
            series = losses.series[name]
            old_x, old_y = series.xs.copy(), series.ys.copy()
            series.clear()
            series.extend(xs, 1.0 + 0.3 * rng.standard_normal(a.prefill))
            series.extend(old_x, old_y)
        losses.dirty = True
    t0 = time.perf_counter()
    profiler = None
    if a.profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    watch = StallWatch() if a.stall_stacks else None
    if watch is not None:
        for kind in ("checkpoint", "samples", "metrics"):
            getattr(state, kind).connect(lambda _e, kind=kind: watch.mark(kind))
        watch.start()
    threads_before = _threads()
    busy = run_probe(app, a.seconds, "training", watch)
    threads = thread_report(threads_before, _threads())
    if watch is not None:
        watch.stop()
        stall_report = watch.report()   # with a full collection timed now, while training still runs
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(a.profile)
    elapsed = time.perf_counter() - t0
    state.stop()
    end = QEventLoop()
    state.run_ended.connect(end.quit)
    QTimer.singleShot(120_000, end, end.quit)
    end.exec()
    window.close()
    if state.run_dir is not None:   # the scratch workspace's run: nobody looks at it again
        import shutil
        shutil.rmtree(state.run_dir, ignore_errors=True)
    import gc
    gc.unfreeze()   # the studio froze its objects from the collector (studio.heap): not the caller's (the suite's)

    print(f"DCGAN {a.size}px, batch {a.batch}, {a.threads} torch thread(s), probe every {PROBE_MS} ms")
    print(f"loss curves prefilled with {a.prefill:,} points each")
    print(summary("idle    ", idle))
    print(summary("training", busy))
    print(f"GUI thread CPU: idle {1000 * GUI_CPU['idle']:.0f} ms/s, training {1000 * GUI_CPU['training']:.0f} ms/s "
          "(its own CPU time per second of the probe: what the machine's load does not change), "
          f"{1000 * GUI_CPU['training'] * elapsed / max(counts['progress'], 1):.1f} ms per progress event")
    print(f"during the probe: {counts['progress']} progress events ({counts['progress'] / elapsed:.1f}/s), "
          f"{counts['samples']} sample grids, {counts['checkpoints']} checkpoints")
    att = ATTRIBUTION["training"]
    print(f"ticks later than {LATE_MS:.0f} ms: {att['late_ticks']}, {att['late_ms']:.0f} ms late in all; in their "
          f"intervals the GUI thread ran {att['cpu_ms']:.0f} ms, waited for a core {att['runqueue_ms']:.0f} ms "
          f"and slept {att['slept_ms']:.0f} ms (idle until due: {PROBE_MS} ms a tick at most; the rest: waiting for the GIL)")
    print("the five latest ticks (late, GUI CPU, run queue, slept ms):", att["worst"])
    print("threads that ran during the probe (name, nice, CPU s):",
          [(t["name"] + (" [GUI]" if t["gui"] else ""), t["nice"], t["cpu_s"]) for t in threads])
    if watch is None:
        stall_report = None
    else:
        print(f"stalls of the event loop over 50 ms: {len(stall_report['stalls'])}; garbage collections:",
              stall_report["gc"]["by_generation"], "objects the collector tracks:", stall_report["gc"]["objects"])
        print("a full collection after the probe (on the GUI thread, training still running):",
              stall_report["gc"]["full_collection"])
        for s in stall_report["stalls"]:
            print(f"  stall {s['gap_ms']:.0f} ms (GUI CPU {s['gui_cpu_ms']:.0f} ms, run queue {s['runqueue_ms']:.0f} ms), "
                  f"collections in it: {[(c['generation'], c['ms'], c['gui_thread']) for c in s['gc_in_it']]}, "
                  f"events: {s['events_in_it']}")
            for st in s["stacks"][:3]:
                print(f"    {st['samples']} samples (innermost first):")
                for line in st["stack"]:
                    print(f"      {line}")
    ok = np.percentile(busy, 99) <= 16 and busy.max() <= 100
    print("goal p99 <= 16 ms and max <= 100 ms:", "met" if ok else "NOT met")

    def stats(late: np.ndarray) -> dict:
        return {"ticks": int(len(late)), "p50_ms": round(float(np.percentile(late, 50)), 2),
                "p99_ms": round(float(np.percentile(late, 99)), 2), "max_ms": round(float(late.max()), 2)}

    rec.save({"idle": stats(idle), "training": stats(busy),
              "gui_cpu_ms_per_s": {k: round(1000 * v, 1) for k, v in GUI_CPU.items()},
              "gui_cpu_ms_per_progress_event": round(1000 * GUI_CPU["training"] * elapsed / max(counts["progress"], 1), 1),
              "progress_events": counts["progress"],
                     "progress_per_s": round(counts["progress"] / elapsed, 2), "sample_grids": counts["samples"],
                     "checkpoints": counts["checkpoints"],
                     "prefill_points_per_curve": a.prefill, "goal_met": bool(ok),
              "late_tick_attribution": att, "threads": threads,
              **(stall_report or {})},
                    settings=vars(a), variant=a.variant or None,
                    notes="event-loop lateness of a 10 ms timer on the GUI thread while a DCGAN trains")
    return 0


if __name__ == "__main__":
    sys.exit(main())   # its figures go to benchmarks/results/ui_latency[-VARIANT].json
