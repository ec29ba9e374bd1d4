"""The GAN milestones (progan, biggan, stylegan) against sngan at equal CPU time on digits.

    nice -n 10 /work/main/.venv/bin/python benchmarks/gan_milestones.py --seconds 120 --seeds 0,1 --jobs 2
    /work/main/.venv/bin/python benchmarks/gan_milestones.py --smoke     # seconds, for the suite

Same data and judge as benchmarks/gan_recipes.py: ~3.6k scikit-learn digits (engines/data/toy.py,
copies=2) at --size px, unconditional (labels hidden, so every family learns the same task; BigGAN
then runs unconditionally as it does on unlabelled folders), each run on one thread until it has
used --seconds of its own CPU time (process time: other load does not tilt the race). Then 1,000
samples are drawn and the script prints per run and as mean ± sd over seeds:
  - Fréchet distance to the real digits in the feature space of a small digit classifier trained on
    the same data (engines/quality.py; lower is better; the real-vs-real floor is printed too);
  - classes covered (a digit counts when >= 2% of the samples are classified as it with p >= 0.5);
  - training images/s (steps x batch / CPU-s) and sampling images/s (1,000 samples, one thread).
--labels trains on the digit classes (e.g. `--families cgan,biggan`): samples are drawn ten per
class in turn and the classifier's agreement with the class asked for is printed too.
--rgb makes an RGB set instead: the same digits, each drawn in a random colour on a random dark
background (seeded), judged by a classifier trained on those RGB digits.
ProGAN's growth schedule needs the run's length in steps, which a CPU budget does not give: its
phase length is set from --progan-steps-per-second (measured on the development machine at 28 px)
the way phase_steps=0 splits a run of known length: full size at about 2/3 of the budget. Sample grids go to --out as PNGs.
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

from engines import registry  # noqa: E402
from engines.config import parse_assignments, replace_checked  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.data.toy import digit_images  # noqa: E402
from engines.imaging import make_grid, save_png  # noqa: E402
from engines.quality import FeatureSpace  # noqa: E402
from engines.train import events as ev  # noqa: E402
from engines.train.loop import Control, Trainer, TrainSettings  # noqa: E402

MIN_CONFIDENCE = 0.5
MIN_SHARE = 0.02
FAMILIES = "sngan,progan,biggan,stylegan"


def coloured(images: np.ndarray, seed: int) -> np.ndarray:
    """Grey digits (N, H, W) -> RGB: a random bright stroke colour on a random dark background each."""
    rng = np.random.default_rng(seed)
    ink = rng.uniform(0.5, 1.0, (len(images), 1, 1, 3))
    paper = rng.uniform(0.0, 0.3, (len(images), 1, 1, 3))
    a = images[..., None].astype(np.float64) / 255.0
    return np.round((a * ink + (1 - a) * paper) * 255).astype(np.uint8)


def dataset(size: int, rgb: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    images, labels = digit_images(size=size, copies=2, seed=seed)
    return (coloured(images, 100 + seed) if rgb else images[..., None]), labels


def train_for(name: str, seconds: float, size: int, overrides: dict, seed: int, n_samples: int,
              progan_rate: float, rgb: bool = False, labelled: bool = False) -> dict:
    torch.set_num_threads(1)
    images, digits = dataset(size, rgb)
    if labelled:
        data = ImageDataset(images, digits.astype(np.int64), [str(d) for d in range(10)], sources=["<sklearn digits>"])
    else:
        data = ImageDataset(images, np.zeros(len(images), np.int64), [], sources=["<sklearn digits>"])
    family = registry.get(name)
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, size)
    overrides = dict(overrides)
    recommended = family.train_preset(size) if family.train_preset is not None else {}
    batch_size = int(overrides.pop("batch_size", recommended.get("batch_size", 64)))  # the family's recipe
    if name == "progan" and "phase_steps" not in overrides:
        overrides["phase_steps"] = max(1, int(progan_rate * seconds / 6))
    config = replace_checked(config, **overrides)
    settings = TrainSettings(steps=10_000_000, batch_size=batch_size, seed=seed, log_every=50, sample_every=0,
                             checkpoint_every=0, monitor_every=250, val_fraction=0.0)
    trainer = Trainer.new(name, config, settings, data, None)
    control, warnings = Control(), []
    start = time.process_time()
    for e in trainer.run(control):
        if isinstance(e, ev.Failed):
            raise RuntimeError(f"{name} seed {seed} failed: {e.message}")
        if isinstance(e, ev.TrainWarning):
            warnings.append(f"{e.kind}@{e.step}")
        if time.process_time() - start >= seconds:
            control.request_stop()
    cpu = time.process_time() - start
    t0 = time.process_time()
    asked = np.arange(n_samples) % 10 if labelled and trainer.engine.conditional else None
    samples = trainer.engine.sample(n_samples, seed=12345 + seed, labels=asked)
    sample_s = time.process_time() - t0
    extra = {}
    if name == "progan":
        stage, alpha = trainer.engine.growth()
        extra["grown_to"] = f"{trainer.engine.sizes[stage]}px a{alpha:.2f}"
    return {"name": name, "seed": seed, "steps": trainer.step, "samples": samples, "cpu": cpu, "asked": asked,
            "train_ips": trainer.step * batch_size / cpu, "sample_ips": n_samples / max(sample_s, 1e-9),
            "warnings": warnings, **extra}


def mean_sd(values) -> str:
    v = np.asarray(values, float)
    return f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120, help="CPU seconds per training run")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--families", default=FAMILIES)
    ap.add_argument("--set", action="append", default=[], metavar="FAMILY:KEY=VALUE",
                    help="override a setting of one family, e.g. stylegan:r1_gamma=0.5 (or :batch_size=32)")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--jobs", type=int, default=1, help="training runs side by side (processes)")
    ap.add_argument("--progan-steps-per-second", type=float, default=15.0,
                    help="ProGAN steps per CPU-second, to plan its growth within the budget")
    ap.add_argument("--out", default="/tmp/gan_milestones")
    ap.add_argument("--labels", action="store_true", help="train on the digit classes (conditional families)")
    ap.add_argument("--rgb", action="store_true", help="colourised digits (RGB) instead of grey ones")
    ap.add_argument("--smoke", action="store_true", help="a few CPU-seconds per family at 16 px: checks it runs")
    args = ap.parse_args()
    if args.smoke:
        args.seconds, args.size, args.samples, args.seeds = 1.0, 16, 16, "0"
        args.families = "sngan,progan"   # the reference and the one with growth-specific reporting
        args.set = args.set + ["stylegan:width=8", "stylegan:max_width=16", "biggan:g_width=8", "biggan:d_width=8",
                               "progan:phase_steps=2"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    names = [n.strip() for n in args.families.split(",") if n.strip()]
    overrides: dict[str, dict] = {}
    for item in args.set:
        name, _, assignment = item.partition(":")
        overrides.setdefault(name, {}).update(parse_assignments([assignment]))
    rate = args.progan_steps_per_second
    jobs = [(n, args.seconds, args.size, overrides.get(n, {}), s, args.samples, rate, args.rgb, args.labels)
            for s in seeds for n in names]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(train_for, *job) for job in jobs]
        images, labels = dataset(args.size, args.rgb)
        held, _ = dataset(args.size, args.rgb, seed=1)
        space = FeatureSpace.fit(images, labels, seed=0, input_size=16, epochs=1 if args.smoke else 5)
        rng = np.random.default_rng(0)
        floor = space.frechet(images, held[rng.choice(len(held), size=min(args.samples, len(held)), replace=False)])
        k = space.num_classes
        rows = []
        for future in futures:
            r = future.result()
            r["fd"] = space.frechet(images, r["samples"])
            r["covered"] = space.classes_covered(r["samples"], MIN_SHARE, MIN_CONFIDENCE)
            if r["asked"] is not None:
                r["warnings"].insert(0, f"class agreement {float((space.predict(r['samples']) == r['asked']).mean()):.2f}")
            save_png(make_grid(r["samples"][:64], columns=8), out / f"{r['name']}_seed{r['seed']}.png", scale=2)
            rows.append(r)
            print(f"  {r['name']} seed {r['seed']}: {r['steps']} steps, Fréchet {r['fd']:.1f}, classes "
                  f"{r['covered']}/{k} {r.get('grown_to', '')}", flush=True)
    print(f"\nequal CPU time: {args.seconds:.0f} CPU-s per run, one thread, {args.size} px "
          f"{'RGB (colourised) ' if args.rgb else ''}digits, "
          f"{'with labels' if args.labels else 'unconditional'}, seeds {seeds}, {args.jobs} run(s) side by side; real vs real Fréchet {floor:.1f}")
    print(f"{'family':<9}{'seed':>5}{'steps':>7}{'Fréchet':>9}{'classes':>9}{'train img/s':>13}{'sample img/s':>14}  notes")
    for r in rows:
        print(f"{r['name']:<9}{r['seed']:>5}{r['steps']:>7}{r['fd']:>9.1f}{r['covered']:>6}/{k:<2}"
              f"{r['train_ips']:>13.0f}{r['sample_ips']:>14.0f}  {r.get('grown_to', '')} {' '.join(r['warnings'])}")
    print(f"\n{'family':<9}{'Fréchet (mean ± sd)':>22}{'classes':>14}{'train img/s':>13}{'sample img/s':>14}")
    for name in names:
        mine = [r for r in rows if r["name"] == name]
        print(f"{name:<9}{mean_sd([r['fd'] for r in mine]):>22}{mean_sd([r['covered'] for r in mine]):>14}"
              f"{np.mean([r['train_ips'] for r in mine]):>13.0f}{np.mean([r['sample_ips'] for r in mine]):>14.0f}")
    return 0


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/gan_milestones.json
    sys.exit(record_run("gan_milestones", main))
