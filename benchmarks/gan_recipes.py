"""GAN recipes at equal CPU time on digits: the small-data default (sngan) against classic DCGAN.

    nice -n 10 /work/main/.venv/bin/python benchmarks/gan_recipes.py --seconds 100 --seeds 0,1,2,3,4 --jobs 2

Builds ~3.6k digit images itself (scikit-learn's digits, engines/data/toy.py, copies=2), trains each
recipe once per seed through the normal training loop, unconditionally (labels hidden), on one
thread until it has used the same CPU time (process time, so other load on the machine does not
tilt the race), then draws 1,000 samples and prints, per seed and as mean ± standard deviation:
  - Fréchet distance to the real digits in the feature space of a small digit classifier trained on
    the same data (engines/quality.py; lower is better; the real-vs-real floor is printed too);
  - classes covered (definition printed with the figures);
  - steps done, and the live diagnostics: the lowest sample-diversity ratio (vs the data) and the
    highest near-duplicate share seen by the monitor after the collapse warm-up, the longest
    D-saturation streak, and any warnings.
--jobs runs that many (recipe, seed) trainings side by side in separate processes (each still on
its own thread and its own CPU-time budget). Sample grids go to --out as PNGs: look at them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines.config import parse_assignments, replace_checked  # noqa: E402
from engines import registry  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.data.toy import digit_images  # noqa: E402
from engines.families.gan import COLLAPSE_WARMUP  # noqa: E402
from engines.imaging import make_grid, save_png  # noqa: E402
from engines.quality import FeatureSpace  # noqa: E402
from engines.train import events as ev  # noqa: E402
from engines.train.loop import Control, Trainer, TrainSettings  # noqa: E402

MIN_CONFIDENCE = 0.5   # a sample counts for a class when the classifier gives it at least this probability
MIN_SHARE = 0.02       # a class is covered when at least this share of all samples count for it (1/5 of fair)
MONITOR_EVERY = 250


def train_for(name: str, seconds: float, size: int, overrides: dict, seed: int, n_samples: int,
              threads: int) -> dict:
    """One training run on one thread for `seconds` of its own CPU time; returns samples and traces."""
    torch.set_num_threads(threads)
    images, _ = digit_images(size=size, copies=2, seed=0)
    # unlabelled on purpose: both recipes learn the same unconditional task
    data = ImageDataset(images[..., None], np.zeros(len(images), np.int64), [], sources=["<sklearn digits>"])
    family = registry.get(name)
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, size)
    overrides = dict(overrides)
    batch_size = int(overrides.pop("batch_size", 64))  # a training setting, not a recipe field
    config = replace_checked(config, **overrides)
    settings = TrainSettings(steps=10_000_000, batch_size=batch_size, seed=seed, log_every=50, sample_every=0,
                             checkpoint_every=0, monitor_every=MONITOR_EVERY, val_fraction=0.0)
    trainer = Trainer.new(name, config, settings, data, None)
    control, trace, warnings = Control(), [], []
    start = time.process_time()
    for e in trainer.run(control):
        if isinstance(e, ev.Failed):
            raise RuntimeError(f"{name} seed {seed} failed: {e.message}")
        if isinstance(e, ev.Metrics):
            trace.append((e.step, dict(e.values)))
        if isinstance(e, ev.TrainWarning):
            warnings.append(f"{e.kind}@{e.step}")
        if time.process_time() - start >= seconds:
            control.request_stop()
    samples = trainer.engine.sample(n_samples, seed=12345 + seed)
    return {"name": name, "seed": seed, "steps": trainer.step, "samples": samples, "trace": trace,
            "warnings": warnings, "cpu": time.process_time() - start}


def summarise_trace(trace: list) -> tuple[float, float, float]:
    """Lowest diversity ratio and highest near-duplicate share after the collapse warm-up, longest
    D-saturation streak."""
    armed = [m for s, m in trace if s >= COLLAPSE_WARMUP and "diversity_vs_data" in m]
    streak = max((m.get("d_saturated_steps", 0.0) for _, m in trace), default=0.0)
    if not armed:
        return float("nan"), float("nan"), streak
    return min(m["diversity_vs_data"] for m in armed), max(m["near_duplicates"] for m in armed), streak


def mean_sd(values) -> str:
    v = np.asarray(values, float)
    return f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=100, help="CPU seconds per training run")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--recipes", default="dcgan,sngan", help="comma list of registered GAN names")
    ap.add_argument("--set", action="append", default=[], metavar="RECIPE:KEY=VALUE",
                    help="override a setting of one recipe, e.g. sngan:lr_g=1e-4 (or sngan:batch_size=32)")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1,2", help="comma list of training seeds, one run per recipe each")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="training runs side by side (processes)")
    ap.add_argument("--out", default="/tmp/gan_bench")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and a second or two of work: checks the script still runs (the suite runs it)")
    args = ap.parse_args()
    if args.smoke:
        args.seconds, args.size, args.samples, args.seeds, args.recipes = 1, 12, 50, "0", "dcgan"
        from benchmarks._results import scratch_folder
        args.out = str(scratch_folder("gan-smoke-"))  # removed at exit
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    recipes = [n.strip() for n in args.recipes.split(",") if n.strip()]
    overrides: dict[str, dict] = {}
    for item in args.set:
        recipe, _, assignment = item.partition(":")
        overrides.setdefault(recipe, {}).update(parse_assignments([assignment]))

    jobs = [(name, args.seconds, args.size, overrides.get(name, {}), seed, args.samples, args.threads)
            for seed in seeds for name in recipes]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(train_for, *job) for job in jobs]

        images, labels = digit_images(size=args.size, copies=2, seed=0)
        held_images, held_labels = digit_images(size=args.size, copies=2, seed=1)  # other shifts/rotations
        t0 = time.perf_counter()
        space = FeatureSpace.fit(images, labels, seed=0, input_size=16,  # digits are 8 px at heart
                                 epochs=1 if args.smoke else 5)
        held_acc = float((space.predict(held_images) == held_labels).mean())
        print(f"data: {len(images)} digits at {args.size} px; classifier: train accuracy "
              f"{space.train_accuracy:.3f}, held-out {held_acc:.3f} ({time.perf_counter() - t0:.0f}s)")
        rng = np.random.default_rng(0)
        floor_idx = rng.choice(len(held_images), size=min(args.samples, len(held_images)), replace=False)
        floor = space.frechet(images, held_images[floor_idx])
        k = space.num_classes
        covered = lambda x: space.classes_covered(x, MIN_SHARE, MIN_CONFIDENCE)  # noqa: E731
        print(f"classes covered: a digit counts when >= {MIN_SHARE:.0%} of the {args.samples} samples are "
              f"classified as it with probability >= {MIN_CONFIDENCE}")
        print(f"real vs real (held-out {len(floor_idx)}): Fréchet {floor:.2f}, classes covered "
              f"{covered(held_images[floor_idx])}/{k}", flush=True)

        rows = []
        for future in futures:
            r = future.result()
            fd, cov = space.frechet(images, r["samples"]), covered(r["samples"])
            counts = space.class_counts(r["samples"], MIN_CONFIDENCE)
            low_div, dup, streak = summarise_trace(r["trace"])
            save_png(make_grid(r["samples"][:100], columns=10), out / f"{r['name']}_seed{r['seed']}.png", scale=2)
            rows.append({**r, "fd": fd, "covered": cov, "counts": counts, "low_div": low_div, "dup": dup,
                         "streak": streak})
            print(f"  {r['name']} seed {r['seed']}: {r['steps']} steps, Fréchet {fd:.2f}, classes {cov}/{k}",
                  flush=True)

    print(f"\nequal CPU time: {args.seconds:.0f} CPU-s per run, {args.threads} thread(s), {args.size} px, "
          f"seeds {seeds}, {args.jobs} run(s) side by side")
    print(f"{'recipe':<8}{'seed':>5}{'steps':>7}{'Fréchet':>9}{'classes':>9}{'min div':>9}{'max dup':>9}{'D sat':>7}  "
          f"per-class counts (confident) / warnings")
    for r in rows:
        print(f"{r['name']:<8}{r['seed']:>5}{r['steps']:>7}{r['fd']:>9.2f}{r['covered']:>6}/{k:<2}"
              f"{r['low_div']:>9.2f}{r['dup']:>9.2f}{r['streak']:>7.0f}  {r['counts'].tolist()} {' '.join(r['warnings'])}")
    print(f"\n{'recipe':<8}{'Fréchet (mean ± sd)':>22}{'classes (mean ± sd)':>22}{'all 10 in':>11}")
    for name in recipes:
        mine = [r for r in rows if r["name"] == name]
        full = sum(r["covered"] == k for r in mine)
        print(f"{name:<8}{mean_sd([r['fd'] for r in mine]):>22}{mean_sd([r['covered'] for r in mine]):>22}"
              f"{full:>7}/{len(mine)}")
    print(f"{'real':<8}{floor:>22.2f}")
    return 0


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/gan_recipes.json
    sys.exit(record_run("gan_recipes", main))
