"""Automatic CPU threads against fixed counts, with and without other work on the machine.

    nice -n 10 python benchmarks/threads_under_load.py --loads 0 --seconds 30 --variant quiet
                                                        # no load (~11 min): on a quiet machine
    nice -n 10 python benchmarks/threads_under_load.py --loads 1 --seconds 30 --variant load1
                                                        # one competing busy thread (~11 min)
    nice -n 10 python benchmarks/threads_under_load.py  # no load and one thread per core, 15 s each (~12 min)
    nice -n 10 python benchmarks/threads_under_load.py --spin           # also 1 per core with spinning waits
    python benchmarks/threads_under_load.py --smoke                     # seconds; run by the tests

For each family (cyclegan 16 px, dcgan 28 px, ddpm 20 px by default, on the sample digits) and each
load (none, and a separate process keeping N threads busy with matrix products, N = the cores by
default), the steps per wall-second of `threads` = auto (the adaptive tuner, engines/runtime/
thread_tuner.py), 1 thread and one per physical core, all with sleeping OpenMP waits (genstudio's
OMP_WAIT_POLICY=PASSIVE, engines/__init__.py); with --spin also one per core with libgomp's default
spinning waits (what genstudio did before; not a candidate for "best fixed"). Every measurement is a
fresh process training for --seconds of wall time, timed from the first training step (construction
and the step-0 grid not counted; the tuner's warm-up and probing steps are); the modes are paired and
alternated (their order rotates every repetition) so a machine whose load drifts treats them alike.
30-s runs weigh the tuner's first look (a couple of seconds) about as a run of minutes does; each
automatic run also records its looks by reason and the seconds it trained at each count.
Goals: under load auto >= 0.9x the best fixed count, without load >= 0.95x.

Writes benchmarks/results/threads_under_load.json, or threads_under_load-VARIANT.json with --variant
(after every measurement, "complete": false until the end). The machine may be shared: the load
average at the start and end is in the file, and "no load" then means "no load of ours"; each
measurement also records how many cores other work kept busy meanwhile (`others_cores`: the CPUs'
busy time from /proc/stat less this run's own CPU time, our load included; its mean per row is the
table's last column), so a "quiet" figure shows whether the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAMILIES = {"cyclegan": 16, "dcgan": 28, "ddpm": 20}
SMOKE_CONFIG = {"cyclegan": {"width": 4, "blocks": 1}, "dcgan": {"latent_dim": 8, "g_width": 8, "d_width": 8},
                "ddpm": {"base_channels": 8, "preview_steps": 2}}
STARTUP_S = 4.5   # about what a measurement costs besides its training seconds (a fresh process, imports)
LOAD_SCRIPT = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(384, 384)
while True:
    a = torch.tanh(a @ a) + 0.01
"""


_DIGITS: dict[int, tuple] = {}


def digits(size: int, smoke: bool = False):
    """The sample digits at `size` px (made once per process); for --smoke 64 random images instead
    (the code path, not a figure: no scikit-learn import, no resizing)."""
    if (size, smoke) not in _DIGITS:
        import numpy as np

        if smoke:
            rng = np.random.default_rng(0)
            images, labels = rng.integers(0, 256, (64, size, size), dtype=np.uint8), np.arange(64) % 10
        else:
            from engines.data.toy import digit_images

            images, labels = digit_images(size)
        _DIGITS[size, smoke] = (images[..., None] if images.ndim == 3 else images), labels
    return _DIGITS[size, smoke]


def measure(family: str, size: int, threads: int, seconds: float, seed: int, smoke: bool) -> dict:
    """Train `family` for `seconds` of wall time in this process; steps per wall-second from the
    first training step (the step-0 grid and construction not counted)."""
    import torch

    from engines import registry
    from engines.config import replace_checked
    from engines.data import ImageDataset
    from engines.train import events as ev
    from engines.runtime.cpu_load import cpu_idle, idle_cores
    from engines.train.loop import Trainer, TrainSettings

    images, labels = digits(size, smoke)
    names = [str(i) for i in range(10)]
    data = ImageDataset(images, labels, names, sources=["<digits>"])
    inputs = {}
    if family == "cyclegan":
        inputs["b"] = ImageDataset(255 - images[::-1].copy(), labels[::-1].copy(), names, sources=["<inverted>"])
    config = registry.default_config(family, size)
    if smoke:
        fields = set(config.__dataclass_fields__)
        config = replace_checked(config, **{k: v for k, v in SMOKE_CONFIG.get(family, {}).items() if k in fields})
    settings = registry.default_settings(family, size, TrainSettings())
    settings = replace_checked(settings, steps=10_000_000, time_limit=seconds, seed=seed, threads=threads,
                               sample_every=0, sample_seconds=0.0, n_samples=1, checkpoint_every=0,
                               validate_every=0, monitor_every=0, **({"batch_size": 4} if smoke else {}))
    from engines.train import loop

    tuners, made = [], loop.tuner_for

    def keep(*args, **kwargs):   # the tuner the loop makes, to report where its time went
        tuner = made(*args, **kwargs)
        tuners.append(tuner)
        return tuner

    loop.tuner_for = keep
    try:
        trainer = Trainer.new(family, config, settings, data, None, inputs=inputs)
        notes, t0, started, first_step, idle0, cpu0 = [], None, None, None, None, None
        for e in trainer.run():
            if isinstance(e, ev.Started):
                started = e.threads
            elif isinstance(e, ev.Samples) and t0 is None:
                t0 = time.perf_counter()   # the step-0 grid is drawn: training starts as the loop goes on
                first_step, idle0, cpu0 = trainer.step, cpu_idle(), time.process_time()
            elif isinstance(e, ev.Note) and e.kind == "threads":
                notes.append([e.step, e.message])
            elif isinstance(e, ev.Failed):
                raise SystemExit(f"{family} failed: {e.message}")
    finally:
        loop.tuner_for = made
    wall = time.perf_counter() - t0
    own, idle1 = time.process_time() - cpu0, cpu_idle()
    steps = trainer.step - first_step
    out = {"steps": steps, "wall_s": round(wall, 3), "steps_per_s": round(steps / wall, 3),
           "started_threads": started, "final_threads": torch.get_num_threads(), "notes": notes}
    if tuners and tuners[0] is not None:   # automatic: its looks and the training time at each count
        tuner = tuners[0]
        out["looks"] = {r: tuner.reasons.count(r) for r in dict.fromkeys(tuner.reasons)}
        out["seconds_at"] = {str(c): round(s, 2) for c, (n, s) in sorted(tuner.time_at.items())}
    idle = idle_cores(idle0, idle1)
    if idle is not None:   # how busy the machine was: idle cores, and the cores neither idle nor this run's
        out.update(idle_cores=round(idle, 2), others_cores=round(max(0.0, idle1[2] - idle - own / wall), 2))
    return out


def one(args) -> int:
    """--one: a single measurement in a fresh process; prints its JSON."""
    print(json.dumps(measure(args.one, args.size, args.threads, args.seconds, args.seed, args.smoke)), flush=True)
    return 0


def run_one(family, size, threads, seconds, seed, smoke, spin) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), GENSTUDIO_THREAD_PROBE="1", OMP_WAIT_POLICY="PASSIVE")
    env.pop("OMP_NUM_THREADS", None)           # automatic must see the machine, not a pinned count
    if spin:
        env["OMP_WAIT_POLICY"] = ""            # empty: libgomp's default (spin, then sleep); genstudio keeps it
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", family, "--size", str(size),
           "--threads", str(threads), "--seconds", str(seconds), "--seed", str(seed)] + (["--smoke"] if smoke else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds * 4 + 300)
    if out.returncode:
        raise SystemExit(f"measurement failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_load(n: int):
    return subprocess.Popen([sys.executable, "-c", LOAD_SCRIPT, str(n)], stdout=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS=str(n)))


def summarize(family: str, size: int, load: int, results: dict) -> dict:
    """Mean steps per wall-second of each mode, and auto against the best fixed count."""
    rate = {name: sum(m["steps_per_s"] for m in ms) / len(ms) for name, ms in results.items() if ms}
    fixed = {k: v for k, v in rate.items() if k != "auto" and "spinning" not in k}
    best = max(fixed, key=fixed.get)
    others = [m["others_cores"] for ms in results.values() for m in ms if "others_cores" in m]
    row = {"family": family, "size": size, "load_threads": load,
           "steps_per_s": {k: round(v, 3) for k, v in rate.items()},
           "others_cores": round(sum(others) / len(others), 2) if others else None,
           "best_fixed": best, "auto_vs_best": round(rate["auto"] / max(fixed[best], 1e-9), 3),
           "goal": 0.9 if load else 0.95, "runs": results}
    row["meets_goal"] = row["auto_vs_best"] >= row["goal"]
    return row


def table(rows: list[dict], cores: int) -> str:
    spin = any(f"all ({cores}), spinning" in r["steps_per_s"] for r in rows)
    head = "| family | load | auto | 1 thread | all cores |" + (" all cores, spinning |" if spin else "")
    lines = [head + " auto / best fixed | goal | other work (cores) |", "|---" * (head.count("|") + 2) + "|"]
    for row in rows:
        r = row["steps_per_s"]
        cells = [f"{row['family']} {row['size']} px", str(row["load_threads"] or "none"), f"{r['auto']:.2f}",
                 f"{r['1']:.2f}", f"{r[f'all ({cores})']:.2f}"]
        if spin:
            cells.append(f"{r.get(f'all ({cores}), spinning', float('nan')):.2f}")
        cells += [f"{row['auto_vs_best']:.2f}" + ("" if row["meets_goal"] else " (missed)"), str(row["goal"]),
                  "?" if row.get("others_cores") is None else f"{row['others_cores']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def smoke(args, rec) -> int:
    """In this process, tiny nets, a fraction of a second each: every family's code path with auto
    (the tuner probing) and 1 thread, and the summary; not a figure."""
    import torch

    saved = {k: os.environ.get(k) for k in ("GENSTUDIO_THREAD_PROBE", "OMP_NUM_THREADS")}
    threads = torch.get_num_threads()
    os.environ["GENSTUDIO_THREAD_PROBE"] = "1"
    os.environ.pop("OMP_NUM_THREADS", None)
    rows = []
    try:
        for family in FAMILIES:
            results = {"auto": [measure(family, 12, 0, 0.35, args.seed, smoke=True)],
                       "1": [measure(family, 12, 1, 0.15, args.seed, smoke=True)]}
            results["all (1)"] = results["1"]
            rows.append(summarize(family, 12, 0, results))
    finally:
        torch.set_num_threads(threads)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    print(table(rows, 1) + "\n(smoke: tiny nets, a fraction of a second each; not a figure)")
    rec.save({"rows": rows, "complete": True}, settings={"smoke": True})
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="*", default=[f"{f}:{s}" for f, s in FAMILIES.items()],
                   help="family or family:size")
    p.add_argument("--seconds", type=float, default=15.0, help="wall seconds of training per measurement")
    p.add_argument("--repeats", type=int, default=2, help="repetitions of each (family, load, mode)")
    p.add_argument("--loads", type=int, nargs="*", default=None,
                   help="busy threads of the competing load, 0 for none (default: 0 and the cores)")
    p.add_argument("--spin", action="store_true", help="also one thread per core with spinning OpenMP waits")
    p.add_argument("--spin-repeats", type=int, default=1, help="repetitions of the spinning mode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variant", default=None,
                   help="write benchmarks/results/threads_under_load-VARIANT.json (e.g. quiet, load2)")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=16, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        return one(args)

    from benchmarks._results import Results
    from engines.runtime.threads import physical_cores

    rec = Results("threads_under_load", seeds=[args.seed], smoke=args.smoke)
    if args.smoke:
        return smoke(args, rec)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped benchmark stops its load too
    cores = physical_cores()
    modes = [("auto", 0, False), ("1", 1, False), (f"all ({cores})", cores, False)]
    if args.spin:
        modes.append((f"all ({cores}), spinning", cores, True))
    loads = [0, cores] if args.loads is None else args.loads
    runs = len(args.families) * len(loads) * sum(
        min(args.repeats, args.spin_repeats) if spin else args.repeats for _, _, spin in modes)
    print(f"{runs} measurements of {args.seconds:g} s: about {runs * (args.seconds + STARTUP_S) / 60:.0f} min",
          flush=True)
    settings = {k: v for k, v in vars(args).items() if k not in ("one", "size", "threads")}
    rows = []
    for spec in args.families:
        family, _, size = spec.partition(":")
        size = int(size) if size else FAMILIES.get(family, 16)
        for load in loads:
            proc = start_load(load) if load else None
            try:
                time.sleep(0 if proc is None else 2.0)
                results = {name: [] for name, _, _ in modes}
                for r in range(args.repeats):  # paired and alternated: the order rotates each time
                    order = modes[r % len(modes):] + modes[:r % len(modes)]
                    for name, threads, spin in order:
                        if spin and r >= args.spin_repeats:  # slow under load: measured fewer times
                            continue
                        m = run_one(family, size, threads, args.seconds, args.seed, False, spin)
                        results[name].append(m)
                        rec.save({"rows": rows, "cores": cores, "complete": False,
                                  "partial": {"family": family, "size": size, "load_threads": load,
                                              "runs": results}},
                                 settings=settings, quiet=True, variant=args.variant,
                                 notes="partial: written after every measurement; steps per wall-second")
                        print(f"{family} {size}px load {load}: {name:>14}  {m['steps_per_s']:8.2f} steps/s"
                              f"  (ended at {m['final_threads']} threads)", flush=True)
            finally:
                if proc is not None:
                    proc.kill()
                    proc.wait()
            rows.append(summarize(family, size, load, results))
    print("\n" + table(rows, cores))
    rec.save({"rows": rows, "cores": cores, "complete": True}, settings=settings, variant=args.variant,
             notes="steps per wall-second from the first training step; the machine may have been shared (see load)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
