"""Every family's recipe at 28 px on digits for 2, 5 and 10 CPU-minutes: Fréchet distance and classes covered.

    nice -n 10 python benchmarks/recipes_28px.py                                  # the full table (hours)
    nice -n 10 python benchmarks/recipes_28px.py --families flow-matching,ddpm,sngan --seeds 0
    nice -n 10 python benchmarks/recipes_28px.py --families ddpm,flow-matching --minutes 1,2,4 --sweep --variant flow-vs-ddpm
    python benchmarks/recipes_28px.py --smoke                                     # seconds (the suite runs it)

Data: scikit-learn's 8 px digits upscaled to 28 px with small shifts and rotations (engines/data/toy.py,
~3.6k images), unlabelled so every family learns the same unconditional task; held-out digits are
another draw of shifts/rotations (seed 1). Each (family, seed) trains once through the normal training
loop with the family's recipe for 28 px (`registry.default_config` / `default_settings`, what the
studio applies), on one thread, and is measured when its own CPU time (time.process_time, so other
load on a shared machine does not shorten a budget) passes each mark of --minutes; the measuring
itself is not counted. Each run's time budget (`time_limit`, on the same CPU clock) is the last mark, so
schedules planned from the budget (ProGAN's growth, learning-rate decays) end there; for those the
earlier marks are part-way through the plan, not what a run of that length gives (measure such a family
with one mark per command for that).

Measured at each mark, on --samples samples drawn with the family's default sampling options, in the
feature space of a small digit classifier trained on the same digits (engines/quality.py):
  - Fréchet distance to the training digits (lower is better), with real vs real (held-out) as the floor;
  - classes covered: a digit counts when >= 2% of the samples are classified as it with probability >= 0.5;
  - CPU milliseconds per sample.
--sweep adds, at the last mark, Fréchet distance and cost against sampling steps for the families with
a step count (ddpm: DDIM steps; flow-matching: Euler and Heun steps; ebm: Langevin steps from noise and
from the replay buffer).

Results go to benchmarks/results/recipes_28px[-VARIANT].json after every run (a cut-short session
keeps what it measured); sample grids to --out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import Results  # noqa: E402
from engines import registry  # noqa: E402
from engines.config import field_infos, parse_assignments, replace_checked  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.data.toy import digit_images  # noqa: E402
from engines.families import capabilities  # noqa: E402
from engines.imaging import make_grid, save_png  # noqa: E402
from engines.quality import FeatureSpace  # noqa: E402
from engines.train import events as ev  # noqa: E402
from engines.train.budget import Budget  # noqa: E402
from engines.train.loop import Control, Trainer, TrainSettings  # noqa: E402

MIN_CONFIDENCE = 0.5
MIN_SHARE = 0.02
# what --sweep draws: (sampling options, network passes per sample)
SWEEPS = {
    "ddpm": [({"sampler": "ddim", "steps": s}, s) for s in (5, 10, 20, 50)],
    "flow-matching": [({"sampler": "euler", "steps": s, "noise": 0.0}, s) for s in (1, 2, 4, 8, 16, 32)]
                     + [({"sampler": "heun", "steps": s, "noise": 0.0}, 2 * s) for s in (1, 2, 4, 8, 16)],
    # ebm: Langevin steps from uniform noise, and from the replay buffer (the persistent chains)
    "ebm": [({"start": "noise", "steps": s}, s) for s in (50, 100, 200)]
           + [({"start": "buffer", "steps": s}, s) for s in (1, 20, 100)],
}
SMOKE_CONFIG = {"flow-matching": {"base_channels": 8, "channel_mults": "1", "sample_steps": 2},
                "ddpm": {"base_channels": 8, "channel_mults": "1", "timesteps": 50, "sample_steps": 4}}


def sampling_families() -> list[str]:
    return [n for n in registry.names() if capabilities.has(registry.get(n).engine_class, "sample")]


def make_data(size: int, smoke: bool):
    copies = 1 if smoke else 2
    images, labels = digit_images(size=size, copies=copies, seed=0)
    held, held_labels = digit_images(size=size, copies=copies, seed=1)  # other shifts/rotations
    if smoke:
        images, labels, held, held_labels = images[:200], labels[:200], held[:200], held_labels[:200]
    return images, labels, held, held_labels


def sample_cost(engine, n: int, seed: int) -> tuple[np.ndarray, float]:
    """n samples and the CPU milliseconds each took."""
    t0 = time.process_time()
    samples = engine.sample(n, seed=seed)
    return samples, 1000 * (time.process_time() - t0) / n


def run(name: str, seed: int, marks_s: list[float], images: np.ndarray, size: int, overrides: dict,
        space: FeatureSpace, n: int, sweep: bool, out: Path) -> list[dict]:
    """Train `name` until its CPU time passes each mark; measure there (measuring is not counted)."""
    torch.manual_seed(seed)
    data = ImageDataset(images[..., None], np.zeros(len(images), np.int64), [], sources=["<sklearn digits>"])
    family = registry.get(name)
    config = registry.default_config(name, size)
    own = {i.name for i in field_infos(family.config_class)}
    config = replace_checked(config, **{k: v for k, v in overrides.items() if k in own})
    settings = registry.default_settings(name, size, TrainSettings())
    settings = replace_checked(settings, steps=10_000_000, time_limit=marks_s[-1], seed=seed, log_every=5, sample_every=0,
                               checkpoint_every=0, monitor_every=0, validate_every=0, val_fraction=0.0, device="cpu",
                               **{k: v for k, v in overrides.items() if k not in own})
    trainer = Trainer.new(name, config, settings, data, None)
    control, rows, excluded = Control(), [], 0.0
    start = time.process_time()
    # the run's time budget (what schedules such as ProGAN's growth plan from) on this CPU clock, measuring excluded
    trainer.budget = Budget(settings.steps, settings.time_limit, clock=lambda: time.process_time() - excluded)
    pending = list(marks_s)
    events = trainer.run(control)
    while pending:
        e = next(events, None)
        if isinstance(e, ev.Failed):
            raise RuntimeError(f"{name} seed {seed} failed: {e.message}")
        used = time.process_time() - start - excluded
        if e is None or used >= pending[0]:  # a run that ended on its budget is measured at its end
            t_measure = time.process_time()
            mark = pending.pop(0)
            samples, ms = sample_cost(trainer.engine, n, 12345 + seed)
            row = {"family": name, "seed": seed, "mark_s": mark, "cpu_s": round(used, 1), "steps": trainer.step,
                   "frechet": space.frechet(images, samples), "classes": space.classes_covered(samples, MIN_SHARE, MIN_CONFIDENCE),
                   "ms_per_sample": ms, "batch_size": trainer.settings.batch_size}
            save_png(make_grid(samples[:100], columns=10), out / f"{name}_seed{seed}_{mark:.0f}s.png", scale=2)
            if sweep and not pending and name in SWEEPS:
                row["sweep"] = steps_sweep(trainer.engine, images, space, n, seed)
            rows.append(row)
            print(f"  {name} seed {seed} at {mark:.0f} CPU-s ({trainer.step} steps): Fréchet {row['frechet']:.2f}, "
                  f"classes {row['classes']}, {ms:.1f} CPU-ms/sample", flush=True)
            excluded += time.process_time() - t_measure
            if not pending and e is not None:
                control.request_stop()
                for _ in events:  # let the run finish
                    pass
    return rows


def steps_sweep(engine, images, space, n, seed) -> list[dict]:
    saved = engine.sampling_options()
    out = []
    try:
        for options, passes in SWEEPS[engine.family]:
            engine.apply_sampling_options(replace(saved, **options))
            samples, ms = sample_cost(engine, n, 777 + seed)
            out.append({**options, "network_passes": passes, "frechet": space.frechet(images, samples),
                        "classes": space.classes_covered(samples, MIN_SHARE, MIN_CONFIDENCE), "ms_per_sample": ms})
            print(f"    {options}: Fréchet {out[-1]['frechet']:.2f}, {ms:.1f} CPU-ms/sample", flush=True)
    finally:
        engine.apply_sampling_options(saved)
    return out


def mean_sd(values) -> str:
    v = np.asarray(values, float)
    return f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="all", help="comma list, or 'all' (every family that samples)")
    ap.add_argument("--minutes", default="2,5,10", help="CPU-minute marks at which each run is measured")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--set", action="append", default=[], metavar="FAMILY:KEY=VALUE",
                    help="change one setting of a family's recipe (config field or training setting), e.g. sngan:batch_size=32")
    ap.add_argument("--sweep", action="store_true", help="quality against sampling steps at the last mark (ddpm, flow-matching, ebm)")
    ap.add_argument("--variant", default="", help="results file suffix: benchmarks/results/recipes_28px-VARIANT.json")
    ap.add_argument("--out", default="", help="sample grids (default: a temporary folder)")
    ap.add_argument("--smoke", action="store_true", help="two tiny families, seconds of work (run by the test suite)")
    args = ap.parse_args(argv)
    overrides: dict[str, dict] = {}
    if args.smoke:
        args.families, args.minutes, args.seeds, args.samples, args.size = "flow-matching,ddpm", "0.02", "0", 16, 16
        args.sweep = True
        overrides = {k: dict(v) for k, v in SMOKE_CONFIG.items()}
        for k in SWEEPS:
            SWEEPS[k] = SWEEPS[k][:1]
    for item in args.set:
        family, _, assignment = item.partition(":")
        overrides.setdefault(family, {}).update(parse_assignments([assignment]))
    families = sampling_families() if args.families == "all" else [f.strip() for f in args.families.split(",") if f.strip()]
    for name in families:
        registry.get(name)  # unknown names fail before any training
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    marks = [float(m) * 60 for m in args.minutes.split(",") if m.strip()]
    torch.set_num_threads(1)
    rec = Results("recipes_28px", seeds=seeds, smoke=args.smoke)
    out = Path(args.out or tempfile.mkdtemp(prefix="recipes28-"))
    out.mkdir(parents=True, exist_ok=True)

    images, labels, held, held_labels = make_data(args.size, args.smoke)
    t0 = time.process_time()
    space = FeatureSpace.fit(images, labels, seed=0, input_size=16, **({"epochs": 1} if args.smoke else {}))
    held_acc = float((space.predict(held) == held_labels).mean())
    pick = np.random.default_rng(0).choice(len(held), size=min(args.samples, len(held)), replace=False)
    floor = space.frechet(images, held[pick])
    floor_classes = space.classes_covered(held[pick], MIN_SHARE, MIN_CONFIDENCE)
    print(f"{len(images)} digits at {args.size} px; classifier held-out accuracy {held_acc:.3f} "
          f"({time.process_time() - t0:.0f} CPU-s); real vs real: Fréchet {floor:.2f}, classes {floor_classes}", flush=True)
    figures = {"floor": {"frechet": floor, "classes": floor_classes, "held_out_accuracy": held_acc},
               "features": "engines.quality.FeatureSpace: a small digit classifier trained on the same digits, input 16 px",
               "marks_s": marks, "rows": [], "failed": []}
    settings = {**vars(args), "overrides": overrides}
    for name in families:
        for seed in seeds:
            try:
                figures["rows"] += run(name, seed, marks, images, args.size, overrides.get(name, {}), space,
                                       args.samples, args.sweep, out)
            except Exception as exc:  # noqa: BLE001 - one family's failure must not lose the others' figures
                figures["failed"].append({"family": name, "seed": seed, "error": f"{type(exc).__name__}: {exc}"})
                print(f"  {name} seed {seed} FAILED: {exc}", flush=True)
            rec.save(figures, settings=settings, variant=args.variant or None, quiet=True,
                     notes="CPU seconds of one thread per run (time.process_time); the machine may be shared (see load)")

    print(f"\n| family | " + " | ".join(f"FD @ {m / 60:g} CPU-min" for m in marks) + " | classes @ last | ms/sample |")
    print("| --- |" + " ---: |" * (len(marks) + 2))
    for name in families:
        mine = [r for r in figures["rows"] if r["family"] == name]
        if not mine:
            continue
        cells = [mean_sd([r["frechet"] for r in mine if r["mark_s"] == m]) if any(r["mark_s"] == m for r in mine)
                 else "–" for m in marks]
        last = [r for r in mine if r["mark_s"] == marks[-1]] or mine
        print(f"| {name} | " + " | ".join(cells) + f" | {mean_sd([r['classes'] for r in last])} | "
              f"{np.mean([r['ms_per_sample'] for r in last]):.1f} |")
    print(f"| real vs real | {floor:.2f} |")
    print(f"results: {rec.path(args.variant or None)}; grids: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
