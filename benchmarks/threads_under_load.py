"""Automatic CPU threads against fixed counts, with and without other work on the machine.

    nice -n 10 python benchmarks/threads_under_load.py                  # the figures in the README
    nice -n 10 python benchmarks/threads_under_load.py --spin-auto      # also auto with spinning OpenMP waits
    python benchmarks/threads_under_load.py --smoke                     # seconds; run by the tests

For each family (cyclegan 16 px, dcgan 28 px, ddpm 20 px by default, on the sample digits) and each
load (none, and a separate process keeping N threads busy with matrix products, N = the cores by
default), the steps per wall-second of `threads` = auto (the adaptive tuner, engines/runtime/
thread_tuner.py), 1 thread and one per physical core, all with sleeping OpenMP waits (genstudio's
OMP_WAIT_POLICY=PASSIVE, engines/__init__.py), and one per core with libgomp's default spinning waits
(what genstudio did before; not a candidate for "best fixed"). Every measurement is a fresh process training
for --seconds of wall time (construction not counted; the tuner's probing steps are); the modes are
paired and alternated (their order rotates every repetition) so a machine whose load drifts treats
them alike. Goals: under load auto >= 0.9x the best fixed count, without load >= 0.95x.

Writes benchmarks/results/threads_under_load.json. The machine may be shared: the load average at
the start and end is in the file, and "no load" then means "no load of ours".
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
LOAD_SCRIPT = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(384, 384)
while True:
    a = torch.tanh(a @ a) + 0.01
"""


def measure(family: str, size: int, threads: int, seconds: float, seed: int, smoke: bool) -> dict:
    """Train `family` for `seconds` of wall time in this process; steps per wall-second."""
    import numpy as np
    import torch

    from engines import registry
    from engines.config import replace_checked
    from engines.data import ImageDataset
    from engines.data.toy import digit_images
    from engines.train import events as ev
    from engines.train.loop import Trainer, TrainSettings

    images, labels = digit_images(size)
    images = images[..., None] if images.ndim == 3 else images
    names = [str(i) for i in range(10)]
    data = ImageDataset(images, labels, names, sources=["<digits>"])
    inputs = {}
    if family == "cyclegan":
        inputs["b"] = ImageDataset(255 - images[::-1].copy(), labels[::-1].copy(), names, sources=["<inverted>"])
    config = registry.default_config(family, size)
    if smoke:
        small = {"cyclegan": {"width": 4, "blocks": 1}, "dcgan": {"latent_dim": 8, "g_width": 8, "d_width": 8},
                 "ddpm": {"base_channels": 8}}.get(family, {})
        fields = {f for f in config.__dataclass_fields__}
        config = replace_checked(config, **{k: v for k, v in small.items() if k in fields})
    settings = registry.default_settings(family, size, TrainSettings())
    settings = replace_checked(settings, steps=10_000_000, time_limit=seconds, seed=seed, threads=threads,
                               sample_every=0, checkpoint_every=0, validate_every=0, monitor_every=0,
                               **({"batch_size": 4} if smoke else {}))
    trainer = Trainer.new(family, config, settings, data, None, inputs=inputs)
    notes, t0 = [], None
    for e in trainer.run():
        if isinstance(e, ev.Started):
            t0 = time.perf_counter()
        elif isinstance(e, ev.Note) and e.kind == "threads":
            notes.append([e.step, e.message])
        elif isinstance(e, ev.Failed):
            raise SystemExit(f"{family} failed: {e.message}")
    wall = time.perf_counter() - t0
    return {"steps": trainer.step, "wall_s": round(wall, 3), "steps_per_s": round(trainer.step / wall, 3),
            "final_threads": torch.get_num_threads(), "notes": notes}


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="*", default=list(FAMILIES), help="family or family:size")
    p.add_argument("--seconds", type=float, default=20.0, help="wall seconds of training per measurement")
    p.add_argument("--repeats", type=int, default=2, help="repetitions of each (family, load, mode)")
    p.add_argument("--load-threads", type=int, default=0, help="busy threads of the competing load (0: the cores)")
    p.add_argument("--spin-repeats", type=int, default=1, help="repetitions of the spinning modes")
    p.add_argument("--spin-auto", action="store_true", help="also measure auto with libgomp's spinning waits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=16, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        return one(args)

    from benchmarks._results import Results
    from engines.runtime.threads import physical_cores

    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped benchmark stops its load too
    cores = physical_cores()
    rec = Results("threads_under_load", seeds=[args.seed], smoke=args.smoke)
    if args.smoke:  # in this process, one thread, half a second: the code path, not a figure
        m = measure("dcgan", 12, 1, 0.5, args.seed, smoke=True)
        print(f"dcgan 12px, 1 thread: {m['steps_per_s']:.2f} steps/s (smoke)")
        rec.save({"rows": [], "smoke": m}, settings={"smoke": True})
        return 0
    modes = [("auto", 0, False), ("1", 1, False), (f"all ({cores})", cores, False),
             (f"all ({cores}), spinning", cores, True)]
    if args.spin_auto:
        modes.append(("auto, spinning", 0, True))
    loads = [0, args.load_threads or cores]
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
                    order = modes[r % len(modes):] + modes[:r % len(modes)]   # alternate the order
                    for name, threads, spin in order:
                        if spin and r >= args.spin_repeats:  # slow under load: measured fewer times
                            continue
                        m = run_one(family, size, threads, args.seconds, args.seed, args.smoke, spin)
                        results[name].append(m)
                        rec.save({"rows": rows, "cores": cores, "complete": False,
                                  "partial": {"family": family, "size": size, "load_threads": load,
                                              "runs": results}},
                                 settings={k: v for k, v in vars(args).items() if k != "one"}, quiet=True,
                                 notes="partial: written after every measurement; steps per wall-second")
                        print(f"{family} {size}px load {load}: {name:>14}  {m['steps_per_s']:8.2f} steps/s"
                              f"  (ended at {m['final_threads']} threads)", flush=True)
            finally:
                if proc is not None:
                    proc.kill()
                    proc.wait()
            rate = {name: sum(m["steps_per_s"] for m in ms) / len(ms) for name, ms in results.items()}
            fixed = {k: v for k, v in rate.items() if not k.startswith("auto") and "spinning" not in k}
            best = max(fixed, key=fixed.get)
            row = {"family": family, "size": size, "load_threads": load, "steps_per_s": rate,
                   "best_fixed": best, "auto_vs_best": round(rate["auto"] / max(fixed[best], 1e-9), 3),
                   "goal": 0.9 if load else 0.95, "runs": results}
            row["meets_goal"] = row["auto_vs_best"] >= row["goal"]
            rows.append(row)
    print("\n| family | load | auto | 1 thread | all cores | all cores, spinning | auto / best fixed | goal |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        r = row["steps_per_s"]
        print(f"| {row['family']} {row['size']} px | {row['load_threads'] or 'none'} | {r['auto']:.2f} | "
              f"{r['1']:.2f} | {r[f'all ({cores})']:.2f} | {r[f'all ({cores}), spinning']:.2f} | {row['auto_vs_best']:.2f}"
              f"{'' if row['meets_goal'] else ' (missed)'} | {row['goal']} |")
    rec.save({"rows": rows, "cores": cores, "complete": True}, settings={k: v for k, v in vars(args).items() if k != "one"},
             notes="steps per wall-second; the machine may have been shared (see load)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
