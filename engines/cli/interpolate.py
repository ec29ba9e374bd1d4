"""genstudio interpolate RUN_DIR --a SEED|IMAGE --b SEED|IMAGE --frames K --out FILE.png|.gif|.mp4

Conditional runs morph the class too: --label-a NAME --label-b NAME (the class moves from A's to B's
along the same steps as the latent); --label NAME holds one class for every end point.
StyleGAN runs walk in W by default; --space z walks in Z (each frame mapped to W). --set KEY=VALUE
passes sampling options (e.g. truncation=0.7)."""

from __future__ import annotations

import sys

import torch

from ..config import ConfigError, parse_assignments
from ..export import ExportError, export_frames
from ..latent import (MODES, LatentError, can_mix_classes, class_grid, class_path, corner_grid, decode_batches,
                      endpoint_latent, mix_caption, path)
from ..families import capabilities
from ..sampling import sampling_fields
from ..train.restore import label_index, load_engine
from . import CliError
from .export_args import add_export_arguments, export_options
from ..words import count

ENDS = ("a", "b", "c", "d")


def add_parser(sub) -> None:
    p = sub.add_parser("interpolate", help="morph between seeds or real images and export the frames")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--a", required=True, metavar="SEED|IMAGE", help="start: a seed (integer) or an image file")
    p.add_argument("--b", required=True, metavar="SEED|IMAGE", help="end: a seed or an image file")
    p.add_argument("--c", metavar="SEED|IMAGE", help="with --d: make a grid between four corners a, b, c, d")
    p.add_argument("--d", metavar="SEED|IMAGE")
    p.add_argument("--frames", type=int, default=16, help="frames from a to b (grid: per side)")
    p.add_argument("--out", required=True, help="FILE.png (strip), FILE.gif, FILE.mp4, or a folder for frames")
    p.add_argument("--mode", choices=MODES, default="slerp")
    p.add_argument("--space", choices=("w", "z"),
                   help="stylegan: interpolate in W (the style space, default) or in Z (the noise before mapping)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a sampling option of the family (e.g. truncation=0.7); repeatable")
    p.add_argument("--label", metavar="NAME", help="class for every end point (conditional runs)")
    for end in ENDS:
        p.add_argument(f"--label-{end}", metavar="NAME",
                       help=f"class at end point {end.upper()} (conditional runs; the class morphs between ends)")
    add_export_arguments(p, fps=12.0, scale=4,
                         labels_help="caption each frame or grid tile with its class mix (conditional runs)")
    p.add_argument("--checkpoint", help="latest (default), best, a step number, or one of the run's checkpoint JSONs")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def _say(done: int, total: int) -> None:
    if done == total or done % max(1, total // 10) == 0:
        print(f"  placing image in latent space: {done}/{total}", file=sys.stderr, flush=True)


def _end_classes(args, engine, family: str, ends: list[str]) -> list[int] | None:
    """The class index of each end point, or None when no class was asked for."""
    per_end = {e: getattr(args, f"label_{e}") for e in ENDS}
    for e in ENDS:
        if per_end[e] is not None and e not in ends:
            raise CliError(f"--label-{e} needs --{e}")
    if args.label is None and not any(per_end.values()):
        return None
    if not engine.conditional:
        raise CliError(f"this {family} run is not class-conditional, so it has no classes to set "
                       f"(--label, --label-a, --label-b)")
    missing = [e for e in ends if (per_end[e] or args.label) is None]
    if missing:
        raise CliError(f"give a class for every end point: --label-{missing[0]} NAME (or --label NAME for all)")
    classes = [label_index(engine, per_end[e] or args.label) for e in ends]
    if len(set(classes)) > 1 and not can_mix_classes(engine):
        raise CliError(f"{family} cannot morph between classes; use one --label for all end points")
    return classes


def _sampling_options(engine, family: str, args) -> None:
    options = parse_assignments(args.set)
    if args.space is not None:
        if "space" not in {f.name for f in sampling_fields(engine)}:
            raise CliError(f"--space is for runs whose latents can be in W or Z (stylegan); {family} has one latent space")
        options["space"] = args.space
    if options:
        try:
            engine.set_sampling_options(**options)
        except ConfigError as exc:
            raise CliError(str(exc)) from None


def run(args) -> int:
    if not 2 <= args.frames <= 1000:
        raise CliError("--frames must be between 2 and 1000")
    if (args.c is None) != (args.d is None):
        raise CliError("--c and --d go together (four corners)")
    options = export_options(args)
    engine, record = load_engine(args.run_dir, args.checkpoint)
    _sampling_options(engine, record.family, args)
    if not capabilities.has(engine, "latent"):
        raise CliError(capabilities.why_not(engine, "latent"))
    ends = [e for e in ENDS if getattr(args, e) is not None]
    classes = _end_classes(args, engine, record.family, ends)
    if options.labels and classes is None:
        raise CliError("--labels captions frames with their classes: give --label-a/--label-b (or --label) "
                       "on a class-conditional run")
    grid = len(ends) == 4
    try:
        latents = [endpoint_latent(engine, getattr(args, e), progress=_say,
                                   label=None if classes is None else classes[i])[0] for i, e in enumerate(ends)]
        latents = corner_grid(latents, args.frames, args.frames, args.mode) if grid else \
            path(latents[0], latents[1], args.frames, args.mode)
        weights = captions = None
        if classes is not None and can_mix_classes(engine):
            k = engine.data.num_classes
            weights = class_grid(classes, args.frames, args.frames, k) if grid else \
                class_path(classes[0], classes[1], k, args.frames)
            captions = [mix_caption(w, engine.data.class_names) for w in weights]
        elif classes is not None:  # one class throughout, as plain class indices
            weights = torch.full((len(latents),), classes[0], dtype=torch.long)
            captions = [engine.data.class_names[classes[0]]] * len(latents)
    except LatentError as exc:
        raise CliError(str(exc)) from None
    frames = decode_batches(engine, latents, weights, chunk=64)
    try:
        out = export_frames(frames, args.out, force=args.force, columns=args.frames if grid else None,
                            **options.frame_options(captions))
    except ExportError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {count(len(frames), 'frame')} to {out}")
    return 0
