"""genstudio upscale RUN --images X --out DIR: super-resolution of smaller images to the run's size."""

from __future__ import annotations

from ..tools import upscale as tool
from ..tools.options import UpscaleOptions, method_options
from ..words import count
from .tool_args import (add_check, add_common, add_options, cli_progress, labels_for, open_run, options_from, print_json,
                        read_inputs, result_paths, run_check, write_results, written_to)


def add_parser(sub) -> None:
    p = sub.add_parser("upscale", help="enlarge smaller images to the run's size (super-resolution)")
    add_common(p)
    add_options(p, UpscaleOptions)
    p.add_argument("--bicubic", action="store_true", help="also write the bicubic enlargement as NAME.bicubic.png")
    add_check(p)


def run(args) -> int:
    opts = options_from(args, UpscaleOptions)
    engine, record = open_run(args)
    tool.method_for(engine)
    inputs = read_inputs(engine, record, args, native=True)
    result_paths(args.out, inputs.names, args.force, ("", ".bicubic") if args.bicubic else ("",))
    options = method_options(opts)
    check = run_check("upscale", engine, record, args, **options)
    result = tool.upscale(engine, inputs.images, seed=args.seed, labels=labels_for(engine, args, len(inputs)),
                          progress=cli_progress("upscaling"), **options)
    written = write_results(result.images, inputs, args.out, args.force)
    if args.bicubic:
        written += write_results(result.bicubic, inputs, args.out, args.force, suffix=".bicubic")
    if args.json:
        print_json({"method": result.method, "size": engine.data.size, "written": [str(p) for p in written],
                    "self_check": check, "skipped": [{"path": p, "reason": r} for p, r in inputs.skipped]})
        return 0
    print(f"method: {result.method}")
    print(f"wrote {count(len(written), 'image')} at {engine.data.size} px {written_to(args.out, written)}")
    return 0
