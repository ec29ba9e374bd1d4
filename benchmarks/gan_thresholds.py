"""Calibration data for the GAN warnings: mode collapse (diversity vs the data) and divergence (D saturation).

    nice -n 10 /work/main/.venv/bin/python benchmarks/gan_thresholds.py --seconds 40 --jobs 2

Trains healthy recipes (sngan, dcgan) and deliberately broken ones on ~3.6k digits (unlabelled,
one thread, the same CPU-time budget each, monitor every 100 steps) and prints, per run, what the
monitor measured after the collapse warm-up: the sample-diversity ratio to the data (min / median),
the near-duplicate share (max), the longest D-saturation streak, the last D(real)/D(fake) means,
and the warnings the current thresholds raised. Broken runs:
  - lr_d x10: the discriminator's learning rate ten times the recipe's;
  - frozen G: the generator's learning rate at the floor (1e-6), so D wins and G never learns;
  - collapsed onto k modes: the healthy sngan run's sampling generator, fed only k distinct latents
    (every z is mapped to one of k fixed ones), for k = 1, 2, 4, 8 (measured on the finished run).
The thresholds in engines/families/gan.py are chosen to separate the two groups; their comments
quote these figures.
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
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines import registry  # noqa: E402
from engines.config import replace_checked  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.data.toy import digit_images  # noqa: E402
from engines.families.gan import COLLAPSE_WARMUP  # noqa: E402
from engines.train import events as ev  # noqa: E402
from engines.train.loop import Control, Trainer, TrainSettings  # noqa: E402

MONITOR_EVERY = 100
SCENARIOS = {  # name: (recipe, overrides)
    "sngan": ("sngan", {}),
    "dcgan": ("dcgan", {}),
    "sngan lr_d x10": ("sngan", {"lr_d": 4e-3}),
    "dcgan lr_d x10": ("dcgan", {"lr_d": 2e-3}),
    "sngan frozen G": ("sngan", {"lr_g": 1e-6}),
    "dcgan frozen G": ("dcgan", {"lr_g": 1e-6}),
}


class FewModes(nn.Module):
    """A collapsed generator: every z is replaced by one of k fixed latents (picked by argmax of z[:, :k])."""

    def __init__(self, generator: nn.Module, k: int, latent_dim: int):
        super().__init__()
        self.generator, self.k = generator, k
        self.register_buffer("modes", torch.randn(k, latent_dim, generator=torch.Generator().manual_seed(7)))

    def forward(self, z, labels=None):
        pick = z[:, :self.k].argmax(1) if self.k > 1 else torch.zeros(len(z), dtype=torch.long)
        return self.generator(self.modes[pick], labels)


def run(label: str, seconds: float, size: int, seed: int) -> dict:
    torch.set_num_threads(1)
    recipe, overrides = SCENARIOS[label]
    images, _ = digit_images(size=size, copies=2, seed=0)
    data = ImageDataset(images[..., None], np.zeros(len(images), np.int64), [], sources=["<sklearn digits>"])
    family = registry.get(recipe)
    config = replace_checked(family.preset(family.config_class(), size), **overrides)
    settings = TrainSettings(steps=10_000_000, batch_size=64, seed=seed, log_every=50, sample_every=0,
                             checkpoint_every=0, monitor_every=MONITOR_EVERY, val_fraction=0.0)
    trainer = Trainer.new(recipe, config, settings, data, None)
    control, trace, warnings = Control(), [], []
    start = time.process_time()
    for e in trainer.run(control):
        if isinstance(e, ev.Failed):
            warnings.append(f"failed: {e.message}")
        if isinstance(e, ev.Metrics) and "diversity_vs_data" in e.values:
            trace.append((e.step, dict(e.values)))
        if isinstance(e, ev.TrainWarning):
            warnings.append(f"{e.kind}@{e.step}")
        if time.process_time() - start >= seconds:
            control.request_stop()
    rows = [(label, trainer.step, trace, warnings)]
    if label == "sngan":  # the finished healthy run, collapsed onto k modes
        engine = trainer.engine
        healthy = engine.G_ema
        for k in (1, 2, 4, 8):
            engine.G_ema = FewModes(healthy, k, engine.config.latent_dim)
            # the flags and the peak carry over from the healthy run, as they would in a live collapse
            metrics, findings = engine.monitor(trainer.step + k)
            rows.append((f"sngan collapsed to {k}", trainer.step, [(trainer.step, metrics)],
                         [f"{f.kind}" for f in findings]))
            engine._state["collapse_flagged"] = False
        engine.G_ema = healthy
    return {"rows": rows}


def describe(trace: list) -> dict:
    if not trace:
        return dict.fromkeys(("min", "median", "dup", "streak", "d_real", "d_fake"), float("nan"))
    armed = [m for s, m in trace if s >= COLLAPSE_WARMUP] or [m for _, m in trace[-1:]]
    ratio = np.array([m["diversity_vs_data"] for m in armed])
    dup = np.array([m.get("near_duplicates", np.nan) for m in armed])
    streak = max(m.get("d_saturated_steps", 0.0) for _, m in trace)
    last = trace[-1][1]
    return {"min": ratio.min(), "median": np.median(ratio), "dup": dup.max(), "streak": streak,
            "d_real": last.get("d_real", np.nan), "d_fake": last.get("d_fake", np.nan)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40, help="CPU seconds per training run")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list of: " + ", ".join(SCENARIOS))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and a second or two of work: checks the script still runs (the suite runs it)")
    args = ap.parse_args()
    if args.smoke:
        args.seconds, args.size, args.scenarios = 1, 12, args.scenarios.split(",")[0]
    labels = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        results = [pool.submit(run, label, args.seconds, args.size, args.seed) for label in labels]
        rows = [row for r in results for row in r.result()["rows"]]
    print(f"{args.seconds:.0f} CPU-s per run, seed {args.seed}, monitor every {MONITOR_EVERY} steps; "
          f"figures after step {COLLAPSE_WARMUP} (collapse warm-up)")
    print(f"{'run':<22}{'steps':>7}{'div min':>9}{'div med':>9}{'dup max':>9}{'D sat max':>11}"
          f"{'D(real)':>9}{'D(fake)':>9}  warnings")
    for label, steps, trace, warnings in rows:
        d = describe(trace)
        print(f"{label:<22}{steps:>7}{d['min']:>9.3f}{d['median']:>9.3f}{d['dup']:>9.2f}{d['streak']:>11.0f}"
              f"{d['d_real']:>9.2f}{d['d_fake']:>9.2f}  {' '.join(warnings)}")
    return 0


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/gan_thresholds.json
    sys.exit(record_run("gan_thresholds", main))
