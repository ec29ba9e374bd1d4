"""GAN recipes at equal CPU time on digits: the small-data default (sngan) against classic DCGAN.

    nice -n 10 /work/main/.venv/bin/python benchmarks/gan_recipes.py --seconds 150 --out /tmp/gan_bench

Builds ~3.6k digit images itself (scikit-learn's digits, engines/data/toy.py, copies=2), trains each
recipe through the normal training loop, unconditionally (labels hidden), on one thread until it has
used the same CPU time (process time, so other load on the machine does not tilt the race), then
draws 1,000 samples and prints side by side:
  - Fréchet distance to the real digits in the feature space of a small digit classifier trained on
    the same data (engines/quality.py; lower is better; the real-vs-real floor is printed too);
  - classes covered: digits that get at least a fifth of a fair share of confidently classified samples;
  - steps done, and the live diagnostics of the last monitor call.
Sample grids go to --out as PNGs: look at them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines.config import parse_assignments, replace_checked  # noqa: E402
from engines import registry  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.data.toy import digit_images  # noqa: E402
from engines.imaging import make_grid, save_png  # noqa: E402
from engines.quality import FeatureSpace  # noqa: E402
from engines.train import events as ev  # noqa: E402
from engines.train.loop import Control, Trainer, TrainSettings  # noqa: E402


def train_for(name: str, data: ImageDataset, seconds: float, size: int, overrides: dict, seed: int):
    family = registry.get(name)
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, size)
    config = replace_checked(config, **overrides)
    settings = TrainSettings(steps=10_000_000, batch_size=64, seed=seed, log_every=50, sample_every=0,
                             checkpoint_every=0, monitor_every=250, val_fraction=0.0)
    trainer = Trainer.new(name, config, settings, data, None)
    control, last_metrics, warnings = Control(), {}, []
    start = time.process_time()
    for e in trainer.run(control):
        if isinstance(e, ev.Failed):
            raise RuntimeError(f"{name} failed: {e.message}")
        if isinstance(e, ev.Metrics):
            last_metrics = e.values
        if isinstance(e, ev.TrainWarning):
            warnings.append(f"step {e.step}: {e.kind}")
        if isinstance(e, ev.Progress) and e.step % 500 == 0:
            print(f"  {name} step {e.step}: " + "  ".join(f"{k} {v:.3g}" for k, v in e.losses.items()), flush=True)
        if time.process_time() - start >= seconds:
            control.request_stop()
    return trainer, last_metrics, warnings


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=150, help="CPU seconds per recipe")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--recipes", default="dcgan,sngan", help="comma list of registered GAN names")
    ap.add_argument("--set", action="append", default=[], metavar="RECIPE:KEY=VALUE",
                    help="override a setting of one recipe, e.g. sngan:lr_g=1e-4")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="/tmp/gan_bench")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    images, labels = digit_images(size=args.size, copies=2, seed=0)
    held_images, held_labels = digit_images(size=args.size, copies=2, seed=1)  # other shifts/rotations
    t0 = time.perf_counter()
    space = FeatureSpace.fit(images, labels, seed=0, input_size=16)  # digits are 8 px at heart
    held_acc = float((space.predict(held_images) == held_labels).mean())
    print(f"data: {len(images)} digits at {args.size} px; classifier: train accuracy {space.train_accuracy:.3f}, "
          f"held-out {held_acc:.3f} ({time.perf_counter() - t0:.0f}s)")
    rng = np.random.default_rng(args.seed)
    floor_idx = rng.choice(len(held_images), size=min(args.samples, len(held_images)), replace=False)
    floor = space.frechet(images, held_images[floor_idx])
    print(f"real vs real (held-out {len(floor_idx)}): Fréchet {floor:.3f}, classes covered "
          f"{space.classes_covered(held_images[floor_idx])}/{space.num_classes}")

    # unlabelled on purpose: both recipes learn the same unconditional task
    data = ImageDataset(images[..., None], np.zeros(len(images), np.int64), [], sources=["<sklearn digits>"])
    overrides: dict[str, dict] = {}
    for item in args.set:
        recipe, _, assignment = item.partition(":")
        overrides.setdefault(recipe, {}).update(parse_assignments([assignment]))

    rows = []
    for name in [n.strip() for n in args.recipes.split(",") if n.strip()]:
        trainer, metrics, warnings = train_for(name, data, args.seconds, args.size, overrides.get(name, {}), args.seed)
        samples = trainer.engine.sample(args.samples, seed=12345)
        fd = space.frechet(images, samples)
        covered = space.classes_covered(samples)
        counts = space.class_counts(samples)
        grid = out / f"{name}.png"
        save_png(make_grid(samples[:100], columns=10), grid, scale=2)
        rows.append((name, trainer.step, fd, covered, counts, metrics.get("diversity_vs_data", float("nan")),
                     warnings))
        print(f"{name}: {trainer.step} steps, Fréchet {fd:.3f}, classes covered {covered}/{space.num_classes}, "
              f"grid {grid}", flush=True)

    print(f"\nequal CPU time: {args.seconds:.0f} s per recipe, {args.threads} thread(s), {args.size} px")
    print(f"{'recipe':<10}{'steps':>8}{'Fréchet':>10}{'classes':>9}{'diversity':>11}  per-class counts / warnings")
    for name, steps, fd, covered, counts, div, warnings in rows:
        print(f"{name:<10}{steps:>8}{fd:>10.3f}{covered:>6}/{space.num_classes:<2}{div:>11.2f}  "
              f"{counts.tolist()} {'; '.join(warnings) or ''}")
    print(f"{'real':<10}{'':>8}{floor:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
