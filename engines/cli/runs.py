"""genstudio runs [--workspace DIR] [--json]: the runs in a workspace, newest first."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from . import CliError
from ..names import printable
from ..workspace import ENV_VAR, default_workspace, runs_folder, scan_runs


def add_parser(sub) -> None:
    p = sub.add_parser("runs", help="list past runs in the workspace")
    p.add_argument("--workspace", metavar="DIR",
                   help=f"workspace whose runs/ to list (default: ${ENV_VAR} or the user data folder)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    if args.workspace:  # a folder the person named must exist; the default one may simply be empty
        named = Path(args.workspace).expanduser()
        if not named.exists():
            raise CliError(f"--workspace {named} does not exist")
        if not named.is_dir():
            raise CliError(f"--workspace {named} is a file, not a folder")
    workspace = runs_folder(args.workspace or default_workspace())
    runs, skipped = scan_runs(workspace)
    if args.json:
        print(json.dumps({"workspace": str(workspace), "runs": [r.to_json() for r in runs],
                          "skipped": [{"path": str(s.path), "reason": s.reason} for s in skipped]}, indent=1))
        return 0
    if not runs:
        print(f"no runs in {workspace}")
    for r in runs:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)) if r.created else "?"
        steps = f"{r.step}/{r.total_steps}" if r.total_steps else str(r.step)
        losses = "  ".join(f"{k} {v:.4g}" for k, v in list(r.last_losses.items())[:3])
        line = f"{r.name}  {r.family}  {r.status}  step {steps}  {when}  {r.dataset}" + (f"  {losses}" if losses else "")
        print(printable(line))  # names come from folders and files anyone may have made: one plain line each
    for s in skipped:
        print(printable(f"skipped {s.path}: {s.reason}"), file=sys.stderr)
    return 0
