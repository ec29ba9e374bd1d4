"""genstudio sample RUN_DIR --n N --out DIR|FILE.png: N separate PNG samples from a trained run in a folder,
or, when --out names an image file (.png, .jpg, .webp...), one image: the grid of the samples (the sample
itself when --n 1)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..config import parse_assignments
from ..export import (ExportError, check_file_target, export_frames, names_image_file, still_image, upscale,
                      write_image)
from ..imaging import to_pil
from ..families import capabilities
from ..train.restore import label_index, load_engine
from ..tools.common import check_out_folder
from . import CliError
from .export_args import add_export_arguments, export_options
from ..words import count


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="write samples from a trained run as PNG files")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--n", type=int, default=16, help="how many images (default 16)")
    p.add_argument("--out", required=True, metavar="DIR|FILE.png",
                   help="a folder to write one PNG per sample into, or an image file name (.png, .jpg, .webp...) "
                        "for one grid of the samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", help="class name to sample (conditional runs)")
    p.add_argument("--checkpoint", help="latest (default), best, a step number, or one of the run's checkpoint JSONs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a sampling option of the family (e.g. steps=50); repeatable")
    add_export_arguments(p, fps=None, scale=1,
                         labels_help="with --grid: the class name under each tile (conditional runs)")
    p.add_argument("--grid", action="store_true",
                   help="also write all samples as one grid_SEED.png (an image --out is always the grid)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def run(args) -> int:
    if not 1 <= args.n <= 10_000:
        raise CliError("--n must be between 1 and 10000")
    if not 0 <= args.seed < 2**63:
        raise CliError("--seed must be a whole number from 0 to 2^63-1")
    out_options = export_options(args)
    out = Path(args.out).expanduser()
    one_file = names_image_file(out)
    if out_options.labels and not (args.grid or one_file):
        raise CliError("--labels captions the grid: add --grid, or give --out an image file name")
    if one_file:
        try:
            check_file_target(out, args.force)  # before the model is even loaded
        except ExportError as exc:
            raise CliError(str(exc)) from None
    engine, record = load_engine(args.run_dir, args.checkpoint)
    if not capabilities.has(engine, "sample"):
        raise CliError(capabilities.why_not(engine, "sample"))
    for warning in record.warnings:  # e.g. a damaged newest checkpoint, skipped
        print(f"warning: {warning}", file=sys.stderr)
    labels = None
    if args.label is not None:
        labels = np.full(args.n, label_index(engine, args.label), dtype=np.int64)
    elif out_options.labels:
        if not engine.conditional or not engine.data.class_names:
            raise CliError(f"--labels writes class names; this {record.family} run is not class-conditional")
        labels = np.arange(args.n) % engine.data.num_classes  # every class in turn, so the captions are known
    engine.set_sampling_options(**parse_assignments(args.set))  # ConfigError: one line, exit 2
    columns = engine.data.num_classes if labels is not None and args.label is None else int(np.ceil(np.sqrt(args.n)))
    captions = None if labels is None else [engine.data.class_names[int(y)] for y in labels]
    if one_file:
        images = engine.sample(args.n, seed=args.seed, labels=labels)
        try:
            options = out_options.frame_options(captions)
            write_image(still_image(images, columns, options["labels"], options["scale"], options["resample"]), out,
                        force=args.force)  # one image, whatever the suffix (a .gif too: no animation)
        except ExportError as exc:
            raise CliError(str(exc)) from None
        what = "1 sample" if args.n == 1 else f"a grid of {args.n} samples ({columns} across)"
        print(f"wrote {what} to {out} (step {record.checkpoint_step})")
        return 0
    names = [out / f"sample_{args.seed}_{i:04d}.png" for i in range(args.n)]
    grid_path = out / f"grid_{args.seed}.png"
    clash = [p for p in names + ([grid_path] if args.grid else []) if p.exists()]
    if clash and not args.force:
        raise CliError(f"{clash[0]} already exists; use --force to overwrite")
    check_out_folder(out)       # "afile exists and is not a folder", not "File exists"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {out}: {exc.strerror or exc}") from None
    images = engine.sample(args.n, seed=args.seed, labels=labels)
    for image, path in zip(images, names):
        to_pil(upscale(image, out_options.scale, out_options.resample)).save(path, format="PNG")
    if args.grid:
        try:
            export_frames(images, grid_path, force=True, columns=columns, **out_options.frame_options(captions))
        except ExportError as exc:
            raise CliError(str(exc)) from None
    print(f"wrote {count(len(names), 'image')}{' and a grid' if args.grid else ''} to {out} "
          f"(step {record.checkpoint_step})")
    older = sorted(set(out.glob(f"sample_{args.seed}_*.png")) - set(names))
    if older:  # never deleted: the person may want them; say they are not from this call
        print(f"note: {len(older)} other sample_{args.seed}_*.png files from an earlier call are still in {out}")
    return 0
