"""Families side by side at equal training time on scikit-learn's digits: every quality measure.

    nice -n 10 python benchmarks/equal_time.py sngan vae ddpm realnvp --seconds 90 --clock cpu --out /tmp/eq
    python benchmarks/equal_time.py --smoke          # two tiny families, 1 CPU-s each (run by the tests)

Each family trains with the same time budget through the training loop's own `time_limit` (what
`genstudio train --time` sets), one seed, its recipe for --size. `--clock cpu` makes the budget
this process's CPU seconds (the loop's clock is swapped for time.process_time), so a busy shared
machine does not shorten anyone's budget; `--clock wall` uses the loop's usual wall clock. Torch
runs on one thread, so CPU seconds are also one core's seconds.

Then each run is measured exactly as `genstudio compare --measure` does (engines/compare.py,
engines/metrics.py): --n samples against the training digits in the feature space of a small
classifier of the digits (trained once): Fréchet distance, KID ± its bootstrap standard error (both
sets resampled; engines/metrics.KID_METHOD), precision, recall (k = 3), density, coverage (k = 5)
and the memorised share against the images each run trained on (read it against ~5%: fresh digits
score that by construction). Prints a Markdown table and writes benchmarks/results/equal_time.json (figures,
command, commit, machine, load); with --out the run folders stay there (compare them again
with `genstudio compare RUN... --measure --at-time 60s`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import Results  # noqa: E402
from engines import registry  # noqa: E402
from engines.compare import checkpoints_with_time, measure_run  # noqa: E402
from engines.config import field_infos, replace_checked  # noqa: E402
from engines.data import load_images  # noqa: E402
from engines.data.toy import write_digit_folder  # noqa: E402
from engines.train import events as ev  # noqa: E402
from engines.train import loop  # noqa: E402
from engines.train.loop import Trainer, TrainSettings  # noqa: E402

SMOKE = {"dcgan": {"latent_dim": 8, "g_width": 8, "d_width": 8}, "vae": {"latent_dim": 4, "width": 4}}


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """`name` or `name:key=value,key=value`."""
    name, _, rest = spec.partition(":")
    sets = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    return name, sets


def train(spec: str, data, folder: Path, seconds: float, seed: int, size: int,
          extra: dict | None = None) -> tuple[Path, int, float]:
    name, sets = parse_spec(spec)
    sets = {**(extra or {}), **sets}
    family = registry.get(name)
    config = registry.default_config(name, size)
    settings = registry.default_settings(name, size, TrainSettings())
    own = {i.name for i in field_infos(family.config_class)}
    config = replace_checked(config, **{k: v for k, v in sets.items() if k in own})
    settings = replace_checked(settings, steps=10_000_000, time_limit=seconds, seed=seed, sample_every=0,
                               checkpoint_every=0, device="cpu",
                               **{k: v for k, v in sets.items() if k not in own})
    out = folder / spec.replace(":", "_").replace(",", "_").replace("=", "-")
    trainer = Trainer.new(name, config, settings, data, out, data_record={"fit": "center-crop"})
    last = None
    for e in trainer.run():
        if isinstance(e, ev.Failed):
            raise RuntimeError(f"{spec}: {e.message}")
        last = e
    # the training time of the final checkpoint (the last sample grid, drawn after it, is not training)
    return out, last.step, checkpoints_with_time(out)[-1][1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("families", nargs="*", default=["sngan", "vae", "ddpm", "realnvp"])
    p.add_argument("--seconds", type=float, default=90.0, help="training budget per family")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--n", type=int, default=500, help="samples measured per family")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="keep the run folders here (default: a temporary folder)")
    p.add_argument("--smoke", action="store_true", help="two tiny families, a 1 s budget, 32 samples")
    args = p.parse_args(argv)
    rec = Results("equal_time", seeds=[args.seed], smoke=args.smoke,
                  argv=None if argv is None else [__file__, *argv])
    torch.set_num_threads(1)
    extra = {}
    if args.smoke:
        args.families, args.seconds, args.n, args.size = list(SMOKE), 1.0, 32, 16
    if args.clock == "cpu":
        loop._now = time.process_time  # the budget (and ETA) in this process's CPU seconds
    scratch = None if args.out else tempfile.TemporaryDirectory(prefix="equal-time-")
    root = Path(args.out) if args.out else Path(scratch.name)
    root.mkdir(parents=True, exist_ok=True)
    digits = write_digit_folder(root / "digits", size=args.size, per_class=20 if args.smoke else None)
    data = load_images([str(digits)], size=args.size, channels=1)
    print(f"{len(data)} digits at {args.size} px; budget {args.seconds:g} {args.clock}-s per family, "
          f"seed {args.seed}; {args.n} samples measured per family", flush=True)
    rows, features = [], {}
    for spec in args.families:
        if args.smoke:
            extra = SMOKE[parse_spec(spec)[0]]
        run, steps, seconds = train(spec, data, root, args.seconds, args.seed, args.size, extra)
        m = measure_run(run, n=args.n, seed=args.seed, features=features)
        rows.append((spec, steps, seconds, m))
        print(f"{spec}: {steps} steps in {seconds:.1f} {args.clock}-s; FD {m.frechet:.2f}, KID {m.kid:.4f}", flush=True)
    print(f"\nfeatures: {rows[0][3].features}\nKID: {rows[0][3].kid_method}\n")
    print("| family | steps | train s | FD ↓ | KID ↓ (± bootstrap s.e.) | precision ↑ | recall ↑ | density (k 5) "
          "| coverage ↑ (k 5) | memorised |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for spec, steps, seconds, m in rows:
        print(f"| {spec} | {steps:,} | {seconds:.0f} | {m.frechet:.1f} | {m.kid:.3f} ± {m.kid_std_error:.3f} | "
              f"{m.precision:.2f} | {m.recall:.2f} | {m.density:.2f} | {m.coverage:.2f} | {m.memorised:.1%} |")
    rec.save({"features": rows[0][3].features, "clock": args.clock,
              "rows": [{"family": spec, "steps": steps, "train_seconds": seconds, **m.to_json()}
                       for spec, steps, seconds, m in rows]},
             settings={k: v for k, v in vars(args).items() if k != "out"})
    if scratch is None:
        print(f"\nrun folders: {root}")
    else:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
