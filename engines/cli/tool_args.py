"""What the tool commands (score, inpaint, denoise, upscale, synthesize) share: arguments, loading
the run or model file, reading inputs the way the run reads its data, and writing results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..config import ConfigError, field_infos, parse_assignments, replace_checked
from ..names import printable
from ..export import ExportError, check_file_target, names_image_file, write_image
from ..tools.common import Inputs, ToolError, output_paths, read_images, write_png
from ..train.restore import label_index, load_engine
from ..train.run_data import run_data_plan
from . import CliError


def add_common(p, images: bool = True, out: bool = True) -> None:
    p.add_argument("run_dir", metavar="RUN", help="a run folder or a model file from `genstudio export`")
    if images:
        p.add_argument("--images", action="append", required=True, metavar="X",
                       help="an image file or a folder of images (walked recursively); repeatable")
    if out:
        if images:
            p.add_argument("--out", required=True, metavar="DIR|FILE.png",
                           help="folder for the results (relative paths kept); for one input image, an image file "
                                "name (.png, .jpg, .webp...) writes the result there")
        else:
            p.add_argument("--out", required=True, metavar="DIR", help="folder for the results")
        p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--checkpoint", help="latest (default), best, a step number, or one of the run's checkpoint JSONs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", help="class name to condition on (conditional runs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a sampling option of the family (e.g. steps=20); repeatable")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_options(p, options_class: type, required: tuple[str, ...] = ()) -> None:
    """One flag per field of a tool's options dataclass (engines/tools/options.py), with its range,
    default and help text; `required` fields have no default on the command line."""
    for info in field_infos(options_class):
        if info.type is bool:
            p.add_argument(_flag(info.name), action=argparse.BooleanOptionalAction, default=info.default,
                           help=f"{info.help} (default: {'on' if info.default else 'off'})")
            continue
        bounds = f"{info.min:g}-{info.max:g}" if info.min is not None and info.max is not None else ""
        if info.name in required:
            p.add_argument(_flag(info.name), type=info.type, required=True, metavar="N" if info.type is int else "X",
                           help=f"{info.help} ({bounds})")
        else:
            p.add_argument(_flag(info.name), type=info.type, default=info.default, metavar="N" if info.type is int else "X",
                           help=f"{info.help} ({bounds}; default {info.default:g})")


def options_from(args, options_class: type):
    """The checked options from the parsed flags; a CliError naming the flag otherwise."""
    values = {info.name: getattr(args, info.name) for info in field_infos(options_class)}
    try:
        return replace_checked(options_class(), **values)
    except ConfigError as exc:
        text = str(exc)
        for name in values:
            if text.startswith(name + " "):
                text = _flag(name) + text[len(name):]
        raise CliError(text) from None


def open_run(args):
    """(engine, record) with --set sampling options applied; the record knows its run path."""
    if not 0 <= args.seed < 2**63:
        raise CliError("--seed must be a whole number from 0 to 2^63-1")
    engine, record = load_engine(args.run_dir, args.checkpoint)
    record = record.with_run(str(args.run_dir))
    options = parse_assignments(getattr(args, "set", []) or [])
    if options:
        engine.set_sampling_options(**options)
    return engine, record


def labels_for(engine, args, n: int) -> np.ndarray | None:
    if getattr(args, "label", None) is None:
        return None
    return np.full(n, label_index(engine, args.label), dtype=np.int64)


def read_inputs(engine, record, args, native: bool = False, channels: int | None = None) -> Inputs:
    """The --images, preprocessed like the run's data (`channels`: other than the run's, e.g. the
    source domain of a translation)."""
    data = run_data_plan(record)
    inputs = read_images(args.images, None if native else engine.data.size, channels or engine.data.channels,
                         fit=data.fit, background=data.background,
                         native_max=engine.data.size if native else None)
    for path, reason in inputs.skipped:
        print(printable(f"skipped {path}: {reason}"), file=sys.stderr)  # file names may hold control characters
    if not len(inputs):
        where = ", ".join(str(s) for s in args.images)
        if native and any(reason.startswith("already ") for _, reason in inputs.skipped):
            raise ToolError(f"no images smaller than the run's {engine.data.size} px in {where} "
                            f"(upscale enlarges to the run's size)")
        raise ToolError("no readable images in " + where)
    return inputs


def result_paths(out, names, force: bool, suffixes=("",)) -> list[Path]:
    """Where each result goes (suffix-major), refusing to overwrite without force, before any work: under
    the --out folder with the inputs' relative names, or, when --out names an image file (one input
    only), that file (with a suffix: NAME.bicubic.png beside it)."""
    root = Path(out).expanduser()
    if not names_image_file(root):
        return output_paths(root, names, force, suffixes)
    if len(names) != 1:
        raise CliError(f"--out {out} names one image file, but there are {len(names)} input images; "
                       f"give a folder name (without an image suffix)")
    paths = [root.with_name(root.stem + sfx + root.suffix) for sfx in suffixes]
    try:
        for p in paths:
            check_file_target(p, force)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    return paths


def written_to(out, written: list[Path]) -> str:
    """Where results went, for the one line a tool prints: the --out folder, or the files themselves when
    --out named an image file (x.png and, with candidates or --bicubic, x.c1.png beside it)."""
    if not names_image_file(out):
        return f"to {out}"
    return "to " + ", ".join(str(p) if i == 0 else p.name for i, p in enumerate(written))


def write_results(images: np.ndarray, inputs: Inputs, out, force: bool, suffix: str = "") -> list[Path]:
    paths = result_paths(out, inputs.names, force, (suffix,))
    for img, path in zip(images, paths):
        if names_image_file(out):
            write_image(img, path, force=True)  # the format its suffix names
        else:
            write_png(img, path)
    return paths


def cli_progress(label: str):
    """A progress callback that redraws one line on stderr when it is a terminal (silent otherwise)."""
    if not sys.stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\r{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)
    return report


__all__ = ["add_common", "add_options", "options_from", "open_run", "labels_for", "read_inputs", "result_paths", "write_results", "written_to", "cli_progress", "ToolError"]


def add_check(p, json_flag: bool = True) -> None:
    """--no-check / --check-images N (and --json) for the tools with a held-out self-check."""
    from ..tools.selfcheck import DEFAULT_IMAGES

    p.add_argument("--no-check", dest="check", action="store_false",
                   help="skip the held-out self-check (the tool against its non-learned baseline on the run's "
                        "held-out images, cached per checkpoint)")
    p.add_argument("--check-images", type=int, default=DEFAULT_IMAGES,
                   help=f"held-out images for the self-check (default {DEFAULT_IMAGES})")
    if json_flag:
        p.add_argument("--json", action="store_true",
                       help="print what was done as JSON (method, files written, self_check)")


def run_check(tool: str, engine, record, args, **settings) -> dict | None:
    """The held-out self-check, said before the results (a losing model is named a loser first);
    its JSON for --json, None with --no-check."""
    if not getattr(args, "check", True):
        return None
    if not 1 <= args.check_images <= 1000:
        raise CliError("--check-images must be between 1 and 1000")
    from ..tools.selfcheck import self_check

    check = self_check(tool, engine, record, n=args.check_images, seed=args.seed,
                       progress=cli_progress("self-check"), **settings)
    if not getattr(args, "json", False):
        print(("warning: " if check.loses else "self-check: ") + check.verdict(), flush=True)
        if check.suggestion:
            print(f"suggestion: {check.suggestion}", flush=True)
    return check.to_json()


def print_json(report: dict) -> None:
    import json

    print(json.dumps(report, indent=1, default=str))
