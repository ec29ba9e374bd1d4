"""genstudio sample RUN_DIR --n N --out DIR: write N separate PNG samples from a trained run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import parse_assignments
from ..imaging import save_png
from ..train.restore import label_index, load_engine
from . import CliError


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="write samples from a trained run as PNG files")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--n", type=int, default=16, help="how many images (default 16)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write PNG files into")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", help="class name to sample (conditional runs)")
    p.add_argument("--checkpoint", help="latest (default), best, a step number, or one of the run's checkpoint JSONs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a sampling option of the family (e.g. steps=50); repeatable")
    p.add_argument("--scale", type=int, default=1, help="enlarge each image by this integer factor")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def run(args) -> int:
    if not 1 <= args.n <= 10_000:
        raise CliError("--n must be between 1 and 10000")
    if not 0 <= args.seed < 2**63:
        raise CliError("--seed must be a whole number from 0 to 2^63-1")
    if not 1 <= args.scale <= 32:
        raise CliError("--scale must be between 1 and 32")
    engine, record = load_engine(args.run_dir, args.checkpoint)
    labels = None
    if args.label is not None:
        labels = np.full(args.n, label_index(engine, args.label), dtype=np.int64)
    options = parse_assignments(args.set)
    if options:
        configure = getattr(engine, "set_sampling_options", None)
        if configure is None:
            raise CliError(f"{record['family']} has no sampling options")
        configure(**options)
    out = Path(args.out).expanduser()
    names = [out / f"sample_{args.seed}_{i:04d}.png" for i in range(args.n)]
    clash = [p for p in names if p.exists()]
    if clash and not args.force:
        raise CliError(f"{clash[0]} already exists; use --force to overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {out}: {exc.strerror or exc}") from None
    images = engine.sample(args.n, seed=args.seed, labels=labels)
    for image, path in zip(images, names):
        save_png(image, path, scale=args.scale)
    print(f"wrote {len(names)} images to {out} (step {record['checkpoint_step']})")
    older = sorted(set(out.glob(f"sample_{args.seed}_*.png")) - set(names))
    if older:  # never deleted: the person may want them; say they are not from this call
        print(f"note: {len(older)} other sample_{args.seed}_*.png files from an earlier call are still in {out}")
    return 0
