"""genstudio interpolate RUN_DIR --a SEED|IMAGE --b SEED|IMAGE --frames K --out FILE.png|.gif|.mp4"""

from __future__ import annotations

import sys

import numpy as np
import torch

from ..export import ExportError, export_frames
from ..latent import MODES, LatentError, corner_grid, endpoint_latent, path
from ..train.restore import label_index, load_engine
from . import CliError


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
    p.add_argument("--fps", type=float, default=12.0)
    p.add_argument("--scale", type=int, default=4, help="enlarge frames by this integer factor (default 4)")
    p.add_argument("--label", help="class name for conditional runs")
    p.add_argument("--checkpoint", help="latest (default), best, a step number, or one of the run's checkpoint JSONs")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def _say(done: int, total: int) -> None:
    if done == total or done % max(1, total // 10) == 0:
        print(f"  placing image in latent space: {done}/{total}", file=sys.stderr, flush=True)


def run(args) -> int:
    if not 2 <= args.frames <= 1000:
        raise CliError("--frames must be between 2 and 1000")
    if (args.c is None) != (args.d is None):
        raise CliError("--c and --d go together (four corners)")
    engine, record = load_engine(args.run_dir, args.checkpoint)
    if not engine.has_latent:
        raise CliError(f"{record['family']} has no latent space to interpolate in")
    try:
        ends = [endpoint_latent(engine, s, progress=_say)[0] for s in (args.a, args.b, args.c, args.d) if s is not None]
        latents = corner_grid(ends, args.frames, args.frames, args.mode) if len(ends) == 4 else \
            path(ends[0], ends[1], args.frames, args.mode)
    except LatentError as exc:
        raise CliError(str(exc)) from None
    kwargs = {}
    if args.label is not None:
        kwargs["labels"] = torch.full((len(latents),), label_index(engine, args.label), dtype=torch.long)
    frames = np.concatenate([engine.decode(chunk, **kwargs) if not kwargs else
                             engine.decode(chunk, labels=kwargs["labels"][i:i + len(chunk)])
                             for i, chunk in zip(range(0, len(latents), 64), latents.split(64))])
    try:
        out = export_frames(frames, args.out, fps=args.fps, scale=args.scale, force=args.force,
                            columns=args.frames if len(ends) == 4 else None)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {len(frames)} frames to {out}")
    return 0
