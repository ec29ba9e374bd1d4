"""genstudio timelapse RUN_DIR --out FILE.gif|.mp4: the run's sample grids through training."""

from __future__ import annotations

from ..export import ExportError, export_frames, timelapse_frames
from . import CliError


def add_parser(sub) -> None:
    p = sub.add_parser("timelapse", help="export the sample grids of a run as an animation")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, help="FILE.gif, FILE.mp4, FILE.png (strip) or a folder")
    p.add_argument("--fps", type=float, default=6.0)
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args) -> int:
    try:
        steps, frames = timelapse_frames(args.run_dir)
        out = export_frames(frames, args.out, fps=args.fps, scale=args.scale, force=args.force)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {len(frames)} frames (steps {steps[0]}..{steps[-1]}) to {out}")
    return 0
