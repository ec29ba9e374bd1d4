"""genstudio score RUN --images X [--json | --csv FILE]: anomaly scores, higher = more unusual.

The method follows the family (bits/dim with Serrà et al.'s complexity correction for likelihood
models, ELBO for VAEs, denoising loss for diffusion, reconstruction or projection error); the run's
held-out split gives a threshold at the chosen false-positive rate.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..tools import score as tool
from ..tools.common import ToolError
from ..export import ExportError, check_file_target
from . import CliError
from ..tools.options import ScoreOptions
from .tool_args import add_check, add_common, add_options, cli_progress, open_run, options_from, read_inputs, run_check


def add_parser(sub) -> None:
    p = sub.add_parser("score", help="anomaly scores of images under a trained run (higher = more unusual)")
    add_common(p, out=False)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help='print {"scores": [{"path", "score", ...}], ...} as JSON')
    fmt.add_argument("--csv", metavar="FILE", help="write the ranked scores as CSV")
    p.add_argument("--force", action="store_true", help="overwrite the CSV file")
    add_options(p, ScoreOptions)
    p.add_argument("--no-reference", action="store_true", help="skip scoring the held-out split (no threshold)")
    p.add_argument("--reference-limit", type=int, default=256, help="held-out images to score at most (default 256)")
    add_check(p, json_flag=False)


def run(args) -> int:
    opts = options_from(args, ScoreOptions)
    if not 1 <= args.reference_limit <= 100_000:
        raise CliError("--reference-limit must be between 1 and 100000")
    engine, record = open_run(args)
    tool.method_for(engine)  # a family that cannot score says so before anything is read
    csv_path = Path(args.csv).expanduser() if args.csv else None
    if csv_path is not None:
        try:
            check_file_target(csv_path, args.force)  # a folder, or an existing file without --force: before the work
        except ExportError as exc:
            raise CliError(str(exc)) from None
    inputs = read_inputs(engine, record, args)
    check = run_check("score", engine, record, args, complexity=opts.complexity,
                      projection_steps=opts.projection_steps)
    result = tool.score(engine, inputs.images, complexity=opts.complexity, seed=args.seed,
                        projection_steps=opts.projection_steps,
                        progress=cli_progress("scoring"))
    reference = None
    ref_note = "no held-out reference (--no-reference)"
    if not args.no_reference:
        ref_images, ref_note = tool.held_out_images(record, engine, args.reference_limit)
        if ref_images is not None and len(ref_images):
            ref = tool.score(engine, ref_images, complexity=opts.complexity, seed=args.seed,
                             projection_steps=opts.projection_steps,
                             progress=cli_progress("scoring the reference"))
            reference = tool.Reference(ref.scores, ref_note, opts.fpr)
    order = np.argsort(-result.scores, kind="stable")
    rows = []
    for rank, i in enumerate(order, 1):
        row = {"rank": rank, "path": inputs.paths[i], "score": _num(result.scores[i])}
        if result.raw is not None:
            row["raw_bits_per_dim"] = _num(result.raw[i])
        if result.complexity is not None:
            row["png_bits_per_dim"] = _num(result.complexity[i])
        if reference is not None:
            row["unusual"] = bool(result.scores[i] > reference.threshold)
        rows.append(row)
    report = {"run": str(args.run_dir), "family": record.family, "step": record.checkpoint_step,
              "method": result.method, "unit": result.unit, "higher_is_more_unusual": True,
              "complexity_corrected": result.corrected, "scores": rows,
              "skipped": [{"path": p, "reason": r} for p, r in inputs.skipped]}
    report["self_check"] = check
    if reference is not None:
        report["reference"] = {"description": reference.description, "images": int(len(reference.scores)),
                               "fpr": opts.fpr, "threshold": _num(reference.threshold),
                               "histogram": tool.histogram(result.scores, reference.scores),
                               "caution": reference.caution}
    else:
        report["reference"] = None
        report["reference_note"] = ref_note
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    if csv_path is not None:
        _write_csv(csv_path, rows)
    _print_text(report, csv_path)
    return 0


def _num(v: float) -> float | None:
    v = float(v)
    return round(v, 6) if math.isfinite(v) else None


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys = list(rows[0]) if rows else ["rank", "path", "score"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(buf.getvalue())
    except OSError as exc:
        raise ToolError(f"cannot write {path}: {exc.strerror or exc}") from None


def _print_text(report: dict, csv_path: Path | None) -> None:
    print(f"{report['family']} at step {report['step']}: {report['method']} ({report['unit']}; higher = more unusual)")
    ref = report["reference"]
    if ref is not None:
        flagged = sum(r.get("unusual", False) for r in report["scores"])
        print(f"reference: {ref['description']}; threshold {ref['threshold']:.4g} at {ref['fpr']:.0%} false positives "
              f"-> {flagged} of {len(report['scores'])} images flagged")
        if ref.get("caution"):
            print(f"note: {ref['caution']}")
    else:
        print(report.get("reference_note", ""))
    for row in report["scores"][:20]:
        flag = "  unusual" if row.get("unusual") else ""
        print(f"  {row['rank']:4d}  {row['score']:10.4f}  {row['path']}{flag}")
    if len(report["scores"]) > 20:
        print(f"  ... {len(report['scores']) - 20} more" + ("" if csv_path else " (--csv FILE or --json for all)"))
    if csv_path is not None:
        print(f"wrote {csv_path}")
