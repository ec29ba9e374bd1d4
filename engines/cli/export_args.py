"""The export flags shared by `interpolate`, `timelapse` and `sample`: one definition, one meaning."""

from __future__ import annotations

from ..export import MAX_SCALE, RESAMPLING, ExportError, ExportOptions
from . import CliError


def add_export_arguments(p, fps: float | None = 12.0, scale: int = 4, labels_help: str | None = None) -> None:
    """--scale and --resample always; --fps and --loop when `fps` (animations); --labels when described."""
    p.add_argument("--scale", type=int, default=scale,
                   help=f"enlarge images by this integer factor, 1 to {MAX_SCALE} (default {scale})")
    p.add_argument("--resample", choices=tuple(RESAMPLING), default="nearest",
                   help="how to enlarge: nearest keeps pixels crisp, bilinear smooths them (default nearest)")
    if fps is not None:
        p.add_argument("--fps", type=float, default=fps, help=f"frames per second of a GIF or MP4 (default {fps:g})")
        p.add_argument("--loop", type=int, default=0, metavar="N",
                       help="GIF: how many times it plays; 0 = forever (default)")
    if labels_help is not None:
        p.add_argument("--labels", action="store_true", help=labels_help)


def export_options(args) -> ExportOptions:
    """The parsed flags as ExportOptions, checked (a bad value is a one-line error)."""
    if not 1 <= args.scale <= MAX_SCALE:   # the same limit and words for every command with --scale
        raise CliError(f"--scale must be between 1 and {MAX_SCALE}")
    try:
        return ExportOptions(scale=args.scale, resample=args.resample, fps=getattr(args, "fps", 12.0),
                             loop=getattr(args, "loop", 0), labels=getattr(args, "labels", False)).check()
    except ExportError as exc:
        raise CliError(str(exc)) from None
