"""The `genstudio` command: subcommands go to the headless CLI, anything else opens the studio."""

from __future__ import annotations

import sys
from difflib import get_close_matches
from pathlib import Path


SMOKE_LAUNCH = "--smoke-launch"


def _check_platform() -> None:
    """Name the system packages to install instead of letting Qt abort with its plugin message."""
    from studio.platform_deps import startup_problem

    problem = startup_problem()
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(1)


def main(argv: list[str] | None = None) -> int:
    # a frozen bundle starts training processes with torch.multiprocessing (spawn), which runs this
    # executable again with --multiprocessing-fork: hand those over before reading any arguments
    import multiprocessing
    multiprocessing.freeze_support()
    argv = list(sys.argv[1:] if argv is None else argv)
    from engines.cli import COMMANDS
    from engines.cli import main as cli_main

    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version")):
        sys.exit(cli_main(argv))
    if argv and argv[0] == SMOKE_LAUNCH:  # hidden: CI opens the real window once (tests/test_launch.py)
        _check_platform()
        from studio.app import smoke_launch
        sys.exit(smoke_launch(argv[1] if len(argv) > 1 else None))
    # `genstudio trian ...`: a mistyped command would read as a missing folder or an unknown option
    close = (get_close_matches(argv[0], list(COMMANDS), n=1)
             if argv and not argv[0].startswith("-") and not Path(argv[0]).expanduser().exists() else [])
    if close:
        print(f"genstudio: error: unknown command {argv[0]!r} (did you mean `genstudio {close[0]}`?)",
              file=sys.stderr)
        sys.exit(2)
    options = [a for a in argv if a.startswith("-")]
    if options:
        print(f"genstudio: error: unknown option {options[0]} (try `genstudio --help`)", file=sys.stderr)
        sys.exit(2)
    missing = [a for a in argv if not Path(a).expanduser().exists()]
    if missing:
        print(f"genstudio: error: {missing[0]} does not exist", file=sys.stderr)
        sys.exit(2)
    _check_platform()
    from studio.app import run_studio  # Qt is imported only here

    sys.exit(run_studio([str(Path(a).expanduser()) for a in argv]))


if __name__ == "__main__":
    main()
