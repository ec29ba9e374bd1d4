"""genstudio compare RUN_DIR [RUN_DIR ...] [--measure] [--n N] [--json]: runs side by side."""

from __future__ import annotations

import json
import sys

from ..compare import Measured, at, checkpoint_at, measure_run, mixed_data_note, run_facts, table
from ..errors import PERSON_ERRORS
from ..train.checkpoint import CheckpointError
from . import CliError
from .train import parse_duration


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="runs side by side: training time, likelihood, sample speed and quality")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--measure", action="store_true",
                   help="also sample from each run now: parameters, time per image, and sample quality against "
                        "the run's data: Fréchet distance, KID (± its bootstrap standard error over both sets), precision, "
                        "recall (k = 3), density, coverage (k = 5), memorised share against the images the run "
                        "trained on (and classes covered for data with class subfolders); engines/metrics.py")
    p.add_argument("--n", type=int, default=128, help="images to draw per run with --measure (default 128)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    at = p.add_mutually_exclusive_group()
    at.add_argument("--at-step", type=int, metavar="N",
                    help="line the runs up at equal steps: figures as logged up to step N, and --measure "
                         "uses each run's newest checkpoint at or before it")
    at.add_argument("--at-time", metavar="DURATION",
                    help="line the runs up at equal training time (e.g. 90s, 10m): figures as logged up to "
                         "then, and --measure uses each run's newest checkpoint saved by then")


def run(args) -> int:
    if not 16 <= args.n <= 5000:
        raise CliError("--n must be between 16 and 5000")
    if not 0 <= args.seed < 2**63:
        raise CliError("--seed must be a whole number from 0 to 2^63-1")
    if args.at_step is not None and args.at_step < 0:
        raise CliError("--at-step must be 0 or more")
    seconds = parse_duration(args.at_time, "--at-time") if args.at_time is not None else None
    facts = []
    for path in args.runs:
        try:
            facts.append(at(run_facts(path), step=args.at_step, seconds=seconds))
        except ValueError as exc:
            raise CliError(f"{path} is not a usable run: {exc}") from None
    measured: dict = {}
    unmeasured: dict = {}  # run path -> why: one run without a checkpoint must not hide the others' figures
    if args.measure:
        features: dict = {}
        for f in facts:
            say = (lambda text, name=f.name: print(f"{name}: {text}", file=sys.stderr)) if not args.json else None
            try:
                checkpoint = None
                if args.at_step is not None or seconds is not None:
                    checkpoint = checkpoint_at(f.path, step=args.at_step, seconds=seconds)
                    if checkpoint is None:
                        raise CheckpointError("it has no checkpoint that early")
                measured[f.path] = measure_run(f.path, n=args.n, seed=args.seed, features=features, progress=say,
                                               checkpoint=checkpoint)
            except PERSON_ERRORS as exc:
                unmeasured[f.path] = str(exc)
                print(f"genstudio: warning: cannot measure {f.name}: {exc}", file=sys.stderr)
    note = mixed_data_note(facts)
    if args.json:
        print(json.dumps({"runs": [_json(f, measured.get(f.path), unmeasured.get(f.path)) for f in facts],
                          "note": note}, indent=1))
        return 0
    headers, rows = table(facts, measured)
    headers, rows, empty = _filled_columns(headers, rows)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for line in [headers, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
    notes = [m.note for m in measured.values() if m.note]
    notes += [f"sample quality in the feature space of: {m.features}" for m in measured.values() if m.features]
    notes += [f"KID: {m.kid_method}; density/coverage k = {m.dc_k}" for m in measured.values() if m.kid_method]
    if not args.measure and "Fréchet ↓" in empty:
        notes.append("--measure adds parameters, time per image and sample quality (Fréchet distance, KID, "
                     "precision, recall, density, coverage, memorised share)")
    for text in [note, *dict.fromkeys(notes)]:
        if text:
            print(f"note: {text}")
    return 0


def _filled_columns(headers: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]], list[str]]:
    """The table without its columns that no run has a figure in (they would print a wall of dashes);
    also the headers left out."""
    keep = [i for i, h in enumerate(headers) if i == 0 or any(r[i] != "–" for r in rows)]
    empty = [h for i, h in enumerate(headers) if i not in keep]
    return [headers[i] for i in keep], [[r[i] for i in keep] for r in rows], empty


def _json(f, m: Measured | None, problem: str | None = None) -> dict:
    out = {"run": str(f.path), "family": f.family, "status": f.status, "step": f.step, "dataset": f.dataset,
           "train_seconds": f.train_seconds, "final": f.final, "best": f.best, "rollbacks": f.rollbacks}
    if m is not None:
        out["measured"] = m.to_json()
    if problem is not None:
        out["measure_error"] = problem
    return out
