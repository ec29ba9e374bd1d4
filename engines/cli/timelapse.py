"""genstudio timelapse RUN_DIR --out FILE.gif|.mp4: the run's sample grids through training."""

from __future__ import annotations

from ..export import ExportError, export_frames, timelapse_frames
from . import CliError
from .export_args import add_export_arguments, export_options
from ..words import count


def add_parser(sub) -> None:
    p = sub.add_parser("timelapse", help="export the sample grids of a run as an animation")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, help="FILE.gif, FILE.mp4, FILE.png (strip) or a folder")
    add_export_arguments(p, fps=6.0, scale=2, labels_help="write the training step under each frame")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args) -> int:
    options = export_options(args)
    try:
        steps, frames = timelapse_frames(args.run_dir)
        out = export_frames(frames, args.out, force=args.force,
                            **options.frame_options([f"step {s}" for s in steps]))
    except ExportError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {count(len(frames), 'frame')} (steps {steps[0]}..{steps[-1]}) to {out}")
    return 0
