"""Diffusion quality/speed check on digits: train the 28 px CPU preset for a fixed time, then sample.

    nice -n 10 /work/main/.venv/bin/python benchmarks/diffusion.py --seconds 420 --out /tmp/ddpm_bench

Builds the digit folder itself (engines/data/toy.py, copies=2, ~3.6k images, 10 classes), trains
`ddpm` with its preset through the normal training loop, and prints:
  - the loss at intervals;
  - seconds per image for DDIM at several step counts and for the full ancestral sampler (same run,
    so the ratios hold even on a busy machine);
  - class accuracy of conditional samples, judged by a nearest-neighbour classifier fitted on the
    real digits (a cheap stand-in for a person's eye), for DDIM 10/50 steps and full ancestral, and
    the class spread of unguided (unconditional) samples;
and writes sample grids (one column per class) as PNGs into --out. Look at them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines import registry  # noqa: E402
from engines.config import parse_assignments, replace_checked  # noqa: E402
from engines.data import load_images  # noqa: E402
from engines.data.toy import write_digit_folder  # noqa: E402
from engines.imaging import make_grid, save_png  # noqa: E402
from engines.train import events as ev  # noqa: E402
from engines.train.loop import Control, Trainer, TrainSettings  # noqa: E402


def fit_judge(data):
    """A 5-nearest-neighbour digit classifier on 7 px versions of the real images (the digits'
    native resolution is 8 px, so little is lost); fits instantly."""
    from sklearn.neighbors import KNeighborsClassifier

    def features(images):
        x = torch.from_numpy(np.asarray(images)).float().permute(0, 3, 1, 2) / 255.0
        return torch.nn.functional.adaptive_avg_pool2d(x, 7).flatten(1).numpy()

    idx = np.random.default_rng(0).permutation(len(data))
    train, held = idx[:-400], idx[-400:]
    clf = KNeighborsClassifier(5).fit(features(data.images[train]), data.labels[train])
    held_acc = float((clf.predict(features(data.images[held])) == data.labels[held]).mean())
    return (lambda images: clf.predict(features(images))), held_acc


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=420, help="training time budget")
    ap.add_argument("--out", default="/tmp/ddpm_bench")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--per-class", type=int, default=4, help="grid rows (images per class)")
    ap.add_argument("--ancestral", action="store_true", help="also sample with the full ancestral sampler (slow)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_digit_folder(Path(tmp) / "digits", size=args.size, copies=2)
        data = load_images([folder], size=args.size)
    print(f"data: {len(data)} images, {data.size}px, {data.channels} channel(s), {data.num_classes} classes")
    judge, held_acc = fit_judge(data)
    print(f"judge: 5-nearest-neighbours, held-out accuracy on real digits {held_acc:.3f}")

    family = registry.get("ddpm")
    config = replace_checked(family.preset(family.config_class(), args.size), **parse_assignments(args.set))
    settings = TrainSettings(steps=10_000_000, batch_size=args.batch, log_every=100, sample_every=0,
                             checkpoint_every=0, validate_every=0, monitor_every=0, n_samples=10, device="cpu")
    trainer = Trainer.new("ddpm", config, settings, data, None)
    print(f"config: {config}")
    print(f"parameters: {trainer.engine.parameter_count():,}")
    control = Control()
    t0 = time.perf_counter()
    for e in trainer.run(control):
        if isinstance(e, ev.Progress):
            print(f"  step {e.step:6d}  {time.perf_counter() - t0:6.0f}s  "
                  + "  ".join(f"{k} {v:.4f}" for k, v in e.losses.items()), flush=True)
            if time.perf_counter() - t0 > args.seconds:
                control.request_stop()
        elif isinstance(e, ev.Failed):
            print("FAILED:", e.message, e.details)
            return 1
    engine = trainer.engine
    steps_done = trainer.step
    print(f"trained {steps_done} steps in {time.perf_counter() - t0:.0f}s "
          f"({(time.perf_counter() - t0) / max(steps_done, 1) * 1000:.0f} ms/step, batch {args.batch})")

    classes = data.num_classes
    n = classes * args.per_class
    labels = np.tile(np.arange(classes), args.per_class)

    def run(name: str, **options) -> np.ndarray:
        engine.set_sampling_options(**{k: str(v) for k, v in options.items()})
        t = time.perf_counter()
        images = engine.sample(n, seed=7, labels=labels)
        per_image = (time.perf_counter() - t) / n
        acc = float((judge(images) == labels).mean())
        save_png(make_grid(images, columns=classes), out / f"{name}.png", scale=3)
        print(f"  {name:28s} {per_image * 1000:8.1f} ms/image   class accuracy {acc:.3f}")
        return images

    print("sampling (conditional, one column per class; accuracy judged by the classifier):")
    guidance = config.guidance
    for steps in (10, 25, 50, 100):
        run(f"ddim_{steps}_g{guidance:g}", sampler="ddim", steps=steps, eta=0, guidance=guidance)
    run("ddim_50_g1", sampler="ddim", steps=50, eta=0, guidance=1)
    if args.ancestral:
        run(f"ancestral_{config.timesteps}_g{guidance:g}", sampler="ancestral", steps=config.timesteps,
            guidance=guidance)
    engine.set_sampling_options(sampler="ddim", steps="50", guidance="0")
    uncond = engine.sample(n, seed=11, labels=labels)
    counts = np.bincount(judge(uncond), minlength=classes)
    save_png(make_grid(uncond, columns=classes), out / "unconditional_ddim_50.png", scale=3)
    print(f"  unconditional DDIM 50: judged class counts {counts.tolist()} (of {n})")

    engine.set_sampling_options(sampler="ddim", steps="50", guidance=str(guidance))
    frames, ts = engine.sample_path(classes, seed=3, labels=np.arange(classes), keep_steps=8)
    path_grid = make_grid(frames.transpose(1, 0, 2, 3, 4).reshape(-1, *frames.shape[2:]), columns=len(ts))
    save_png(path_grid, out / "denoising_path.png", scale=3)
    print(f"  denoising path at timesteps {ts} -> denoising_path.png")
    print(f"grids in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
