"""Does CycleGAN keep the content when it changes the domain? Unpaired digits, measured by a classifier.

    nice -n 5 .venv/bin/python benchmarks/cyclegan.py [--seconds 300 | --steps N] [--size 16] [--seeds 0]
                                                      [--eval-every K] [--set KEY=VALUE]
    .venv/bin/python benchmarks/cyclegan.py --smoke

Domain A: scikit-learn's handwritten digits, grey, dark strokes on white. Domain B: *other* digits
(unpaired: no image appears in both), light strokes recoloured yellow on a blue background, RGB.
CycleGAN trains on A and B for a CPU-time budget (one thread). Then a digit classifier trained on
domain A only reads:
  - held-out B digits translated B->A (does the translation keep the digit?), against two
    baselines: the B digits turned grey as they are (what A's classifier sees without translation)
    and the real held-out A digits (the classifier's own accuracy);
  - held-out A digits sent round the cycle A->B->A.
Prints one row per seed and the means. `--steps N` trains a fixed number of steps instead (the
learning-rate decay planned from N), so runs compare at equal steps whatever the machine's load;
`--eval-every K` also prints the B->A reading every K steps (a curve; its CPU time is not training's).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from PIL import Image


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def domains(size: int, seed: int = 0):
    """(A images, A labels, B images, B labels): disjoint digits, A grey dark-on-white, B yellow-on-blue."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = np.stack([np.asarray(Image.fromarray((img / 16 * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR))
                  for img in d.images])
    order = np.random.default_rng(seed).permutation(len(x))
    half = len(order) // 2
    ia, ib = order[:half], order[half:]
    a = (255 - x[ia])[..., None]
    g = x[ib].astype(np.float32)[..., None] / 255
    b = (np.array([40, 60, 160.]) * (1 - g) + np.array([250, 210, 40.]) * g).astype(np.uint8)
    return a, d.target[ia], b, d.target[ib]


def write(folder: Path, images: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img).save(folder / f"{i:05d}.png")


def run(seconds: float, size: int, seed: int, work: Path, smoke: bool, overrides=(), steps: int = 0,
        eval_every: int = 0) -> dict:
    from engines.config import replace_checked
    from engines.quality import FeatureSpace
    from engines.train import events as ev
    from engines.train.inputs import load_inputs
    from engines.train.loop import Control, Trainer, TrainSettings
    from engines.train.budget import Budget
    from engines import registry
    from engines.data import load_images

    a, ya, b, yb = domains(size)
    n_test = 40 if smoke else 300
    a_train, a_test, ya_test = a[n_test:], a[:n_test], ya[:n_test]
    b_train, b_test, yb_test = b[n_test:], b[:n_test], yb[:n_test]
    if smoke:
        a_train, b_train = a_train[:40], b_train[:40]
    write(work / "A", a_train)
    write(work / "B", b_train)
    family = registry.get("cyclegan")
    config = family.preset(family.config_class(), size)
    if smoke:
        config = replace_checked(config, width=8, d_width=8, blocks=1)
    from engines.config import parse_assignments
    config = replace_checked(config, **parse_assignments(list(overrides)))
    settings = registry.default_settings("cyclegan", size, TrainSettings())
    fixed = smoke or steps > 0  # a step count, no time limit
    steps = 3 if smoke else steps or 1_000_000
    settings = replace_checked(settings, steps=steps, seed=seed, sample_every=0, checkpoint_every=0, log_every=50,
                               time_limit=0.0 if fixed else seconds)
    dataset = load_images([str(work / "A")], size=size)
    inputs = load_inputs(family.engine_class, {"data": [str(work / "A")], "b": [str(work / "B")]}, size)
    trainer = Trainer.new("cyclegan", config, settings, dataset, None, inputs=inputs)
    control = Control()
    # the time budget on this process's CPU clock, so the learning-rate decay is planned from it
    trainer.budget = Budget(settings.steps, settings.time_limit, clock=cpu_seconds)
    classifier = FeatureSpace.fit(a_train, ya[n_test:][:len(a_train)], epochs=2 if smoke else 8, seed=0)
    acc = lambda imgs, y: float((classifier.predict(imgs) == y).mean())  # noqa: E731
    start = cpu_seconds()
    evaluating, curve, last = 0.0, [], 0
    for e in trainer.run(control):
        if isinstance(e, ev.Progress):
            if eval_every and e.step // eval_every > last // eval_every:
                t = cpu_seconds()
                curve.append((e.step, acc(trainer.engine.translate(b_test, "b2a"), yb_test)))
                print(f"  step {e.step}: B->A {curve[-1][1]:.2f}", flush=True)
                evaluating += cpu_seconds() - t
            last = e.step
            if not fixed and cpu_seconds() - start - evaluating >= seconds:
                control.request_stop()
        if isinstance(e, ev.Failed):
            raise RuntimeError(e.message)
    used = cpu_seconds() - start - evaluating
    engine = trainer.engine
    translated = engine.translate(b_test, "b2a")
    as_is = (0.299 * b_test[..., 0] + 0.587 * b_test[..., 1] + 0.114 * b_test[..., 2]).astype(np.uint8)[..., None]
    cycled = engine.translate(engine.translate(a_test, "a2b"), "b2a")
    return {"seed": seed, "steps": trainer.step, "cpu_s": used,
            "real_A": acc(a_test, ya_test), "B_as_grey": acc(as_is, yb_test),
            "B_to_A": acc(translated, yb_test), "A_cycle": acc(cycled, ya_test), "curve": curve,
            "engine": engine, "samples": (b_test[:8], translated[:8], a_test[:8], engine.translate(a_test[:8], "a2b"))}


def figure(path: Path, samples) -> None:
    """Rows: B digits, their B->A translations, A digits, their A->B translations (enlarged x4)."""
    rows = []
    for imgs in samples:
        rgb = np.repeat(imgs, 3, -1) if imgs.shape[-1] == 1 else imgs
        rows.append(np.concatenate(list(rgb), axis=1))
    grid = np.concatenate(rows, axis=0)
    Image.fromarray(grid).resize((grid.shape[1] * 4, grid.shape[0] * 4), Image.NEAREST).save(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=300, help="CPU seconds of training per seed")
    p.add_argument("--steps", type=int, default=0, help="train this many steps instead of --seconds "
                   "(the learning-rate decay planned from them)")
    p.add_argument("--eval-every", type=int, default=0, metavar="K", help="also read B->A every K steps")
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--figure", help="write a PNG of translations of the first seed here")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a CycleGAN setting")
    p.add_argument("--smoke", action="store_true", help="a few steps on a few images: checks the script runs")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from benchmarks._results import scratch_folder
    os.environ.setdefault("GENSTUDIO_CACHE", str(scratch_folder("genstudio-bench-cache-")))  # removed at exit
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory() as work:
            r = run(0 if args.smoke else args.seconds, args.size, seed, Path(work), args.smoke, args.set,
                    steps=args.steps, eval_every=args.eval_every)
        if args.figure and not rows:
            figure(Path(args.figure), r["samples"])
        rows.append(r)
        print(f"seed {seed}: {r['steps']} steps in {r['cpu_s']:.0f} CPU-s | classifier of A reads: real A "
              f"{r['real_A']:.2f}, B as grey {r['B_as_grey']:.2f}, B->A {r['B_to_A']:.2f}, A->B->A {r['A_cycle']:.2f}",
              flush=True)
    if len(rows) > 1:
        keys = ("real_A", "B_as_grey", "B_to_A", "A_cycle")
        print("mean: " + ", ".join(f"{k} {np.mean([r[k] for r in rows]):.2f}" for k in keys))
    return 0


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/cyclegan.json
    sys.exit(record_run("cyclegan", main))
