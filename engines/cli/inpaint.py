"""genstudio inpaint RUN --images X (--mask MASK.png | --box X,Y,W,H) --out DIR [--candidates N]."""

from __future__ import annotations

from ..tools import inpaint as tool
from ..tools.options import InpaintOptions, method_options
from ..train.run_data import run_data_plan
from ..words import count
from . import CliError
from .tool_args import (add_check, add_common, add_options, cli_progress, labels_for, open_run, options_from, print_json,
                        read_inputs, result_paths, run_check, write_results, written_to)


def add_parser(sub) -> None:
    p = sub.add_parser("inpaint", help="fill a masked region of images with a trained run (known pixels kept)")
    add_common(p)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--mask", metavar="MASK.png", help="white = fill, black = keep; any size (resized like the images)")
    where.add_argument("--box", metavar="X,Y,W,H", help="the rectangle to fill, in the run's pixels")
    add_options(p, InpaintOptions)
    add_check(p)


def run(args) -> int:
    opts = options_from(args, InpaintOptions)
    engine, record = open_run(args)
    tool.method_for(engine)
    size = engine.data.size
    if args.box is not None:
        try:
            box = tuple(int(v) for v in args.box.split(","))
            if len(box) != 4:
                raise ValueError
        except ValueError:
            raise CliError(f"--box must be four whole numbers X,Y,W,H; got {args.box!r}") from None
        mask = tool.box_mask(size, box)
    else:
        mask = tool.load_mask(args.mask, size, run_data_plan(record).fit)
        if not mask.any():
            raise CliError(f"the mask {args.mask} has no white pixels: nothing to fill")
    inputs = read_inputs(engine, record, args)
    options = method_options(opts)
    # check every output name before the work starts
    result_paths(args.out, inputs.names, args.force, [""] + [f".c{k}" for k in range(1, opts.candidates)])
    check = run_check("inpaint", engine, record, args, **options)
    result = tool.inpaint(engine, inputs.images, mask, candidates=opts.candidates, seed=args.seed,
                          labels=labels_for(engine, args, len(inputs)), progress=cli_progress("inpainting"), **options)
    written = write_results(result.images[:, 0], inputs, args.out, args.force)
    for k in range(1, opts.candidates):
        written += write_results(result.images[:, k], inputs, args.out, args.force, suffix=f".c{k}")
    if args.json:
        print_json({"method": result.method, "filled_pixels": int(mask.sum()), "written": [str(p) for p in written],
                    "self_check": check, "skipped": [{"path": p, "reason": r} for p, r in inputs.skipped]})
        return 0
    print(f"method: {result.method}")
    print(f"wrote {count(len(written), 'image')} {written_to(args.out, written)} ({int(mask.sum())} of {mask.size} pixels filled per image)")
    return 0
