"""genstudio export RUN_DIR --out FILE.safetensors: the trained model as one file to keep or share."""

from __future__ import annotations

from pathlib import Path

from ..train.model_file import save_model
from ..train.restore import load_engine
from . import CliError


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a run's trained model as one .safetensors file")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, metavar="FILE.safetensors")
    p.add_argument("--checkpoint", help="latest (default), best, a step number, or one of the run's checkpoint JSONs")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args) -> int:
    out = Path(args.out).expanduser()
    if out.suffix != ".safetensors":
        raise CliError(f"--out must end in .safetensors, got {out.name!r}")
    if out.exists() and not args.force:
        raise CliError(f"{out} already exists; use --force to overwrite")
    if not out.parent.is_dir():
        problem = "is a file, not a folder" if out.parent.exists() else "does not exist"
        raise CliError(f"cannot write to {out}: {out.parent} {problem}")
    engine, record = load_engine(args.run_dir, args.checkpoint)
    try:
        save_model(engine, out, record["checkpoint_step"], source=str(Path(args.run_dir).resolve()))
    except OSError as exc:
        raise CliError(f"cannot write to {out}: {exc.strerror or exc}") from None
    size = out.stat().st_size
    amount = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(1, round(size / 1e3))} kB"
    print(f"wrote {out} ({record['family']}, step {record['checkpoint_step']}, {amount}); "
          f"sample, interpolate and evaluate take it like a run folder: genstudio sample {out.name} --n 16 --out DIR")
    return 0
