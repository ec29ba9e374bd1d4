"""`genstudio` subcommands over the same engines the studio uses.

Each command is a module here with `add_parser(subparsers)` and `run(args) -> int`; COMMANDS lists
them. A person's mistake is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from ..errors import PERSON_ERRORS

# name -> module (relative to this package); the studio entry point uses this to tell commands from folders.
COMMANDS: dict[str, str] = {
    "families": ".families",
    "train": ".train",
    "sample": ".sample",
    "evaluate": ".evaluate",
    "scan": ".scan",
    "interpolate": ".interpolate",
    "stylemix": ".stylemix",
    "timelapse": ".timelapse",
    "runs": ".runs",
    "compare": ".compare",
    "export": ".export_model",
    "score": ".score",
    "inpaint": ".inpaint",
    "denoise": ".denoise",
    "upscale": ".upscale",
    "translate": ".translate",
    "synthesize": ".synthesize",
    "stylize": ".stylize",
}


class CliError(Exception):
    """A mistake in what the person asked for; printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        # main() prints "genstudio: error: ", so name only the subcommand here ("train: ...").
        command = self.prog.removeprefix("genstudio").strip()
        raise CliError(f"{command}: {message}" if command else message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="genstudio", usage="genstudio [FOLDER ...]\n       genstudio COMMAND [options]",
                     description="Train and explore generative image models.\n\n"
                                 "  genstudio [FOLDER ...]   open the studio (with these image folders loaded)\n"
                                 "  genstudio COMMAND ...    run headless; `genstudio COMMAND --help` for its options",
                     epilog="`genstudio families NAME` shows one family's settings, inputs and tools.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true",
                        help="print the versions of genstudio, PyTorch and Python, and the device PyTorch uses")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, prog="genstudio")
    for name, module in COMMANDS.items():
        importlib.import_module(module, __name__).add_parser(sub)
    return parser


_DURATION_FLAGS = ("--time",)


def _join_dash_values(argv: list[str]) -> list[str]:
    """`--time -3s` as `--time=-3s`: argparse takes "-3s" for an option ("expected one argument"),
    while the duration's own check says what is wrong with it in one line."""
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            return out + argv[i:]
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if token in _DURATION_FLAGS and len(nxt) > 1 and nxt[0] == "-" and (nxt[1].isdigit() or nxt[1] == "."):
            out.append(f"{token}={nxt}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _versions() -> str:
    """`genstudio --version`: what a bug report needs (Help → About in the studio says the same)."""
    import platform

    import torch

    from .. import __version__
    from ..runtime.torch_build import describe

    device = describe().get("Device", "")
    return (f"genstudio {__version__}, PyTorch {torch.__version__}, Python {platform.python_version()}"
            + (f"; device: {device}" if device else ""))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(_join_dash_values(argv))
        args.argv = argv  # `train --nproc-per-node N` starts itself again under the launcher
        if args.command is None and args.version:
            print(_versions())
            return 0
        if args.command is None:
            parser.print_help()
            return 0
        return int(importlib.import_module(COMMANDS[args.command], __name__).run(args) or 0)
    except (CliError, *PERSON_ERRORS) as exc:
        rank = os.environ.get("RANK", "0") if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 else "0"
        if rank not in ("", "0"):  # several processes: rank 0 says it (they mostly fail alike); a
            import time            # process failing alone still says it, after rank 0 had its chance
            time.sleep(2.0)
            print(f"genstudio: error: process {rank}: {exc}", file=sys.stderr)
            return 2
        print(f"genstudio: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `genstudio runs | head`: the reader has gone, nothing to say
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        print("genstudio: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback on request
        if os.environ.get("GENSTUDIO_DEBUG"):
            traceback.print_exc()
        print(f"genstudio: internal error: {type(exc).__name__}: {exc} (set GENSTUDIO_DEBUG=1 for details)",
              file=sys.stderr)
        return 1
