"""genstudio denoise RUN --images X --out DIR [--sigma S]: remove Gaussian noise (sigma on the 0-255 scale)."""

from __future__ import annotations

import numpy as np

from ..tools import denoise as tool
from ..tools.options import DenoiseOptions, method_options
from ..words import count
from .tool_args import (add_check, add_common, add_options, cli_progress, labels_for, open_run, options_from, print_json,
                        read_inputs, result_paths, run_check, write_results, written_to)


def add_parser(sub) -> None:
    p = sub.add_parser("denoise", help="remove Gaussian noise from images with a trained run")
    add_common(p)
    add_options(p, DenoiseOptions)
    add_check(p)


def run(args) -> int:
    opts = options_from(args, DenoiseOptions)
    engine, record = open_run(args)
    tool.method_for(engine)
    inputs = read_inputs(engine, record, args)
    result_paths(args.out, inputs.names, args.force)
    options = method_options(opts)
    # checked at the level given, or at the inputs' estimated level (rounded: one cached check per level)
    level = opts.sigma or max(1, round(float(np.median(tool.estimate_sigma(inputs.images)))))
    check = run_check("denoise", engine, record, args, sigma=level, **options)
    result = tool.denoise(engine, inputs.images, sigma=opts.sigma or None, seed=args.seed,
                          labels=labels_for(engine, args, len(inputs)), progress=cli_progress("denoising"), **options)
    written = write_results(result.images, inputs, args.out, args.force)
    s = result.sigmas
    how = "estimated" if result.estimated else "given"
    level = f"{s[0]:.1f}" if np.ptp(s) < 0.05 else f"{s.min():.1f}-{s.max():.1f} (median {np.median(s):.1f})"
    if args.json:
        print_json({"method": result.method, "sigmas": [round(float(v), 3) for v in s],
                    "sigma_estimated": result.estimated, "written": [str(p) for p in written], "self_check": check,
                    "skipped": [{"path": p, "reason": r} for p, r in inputs.skipped]})
        return 0
    print(f"method: {result.method}")
    print(f"noise level ({how}, 0-255 scale): {level}")
    print(f"wrote {count(len(written), 'image')} {written_to(args.out, written)}")
    return 0
