"""Start N training processes on this machine with PyTorch's own launcher.

`genstudio train ... --nproc-per-node N` runs

    python -m torch.distributed.run --standalone --nproc-per-node N -m engines.cli train ...

(the same arguments without --nproc-per-node), which is what a person's own `torchrun` does; each
process then joins the group from the launcher's environment (engines/runtime/distributed.py).
Inside a frozen desktop bundle there is no Python to run `-m torch.distributed.run` with, so the
processes are started with torch.multiprocessing and the same environment variables instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

FLAG = "--nproc-per-node"
ROOT = Path(__file__).resolve().parents[2]   # the folder holding the engines package


def without_flag(argv: list[str], flag: str = FLAG) -> list[str]:
    """argv with `flag N` / `flag=N` removed."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == flag:
            skip = True
            continue
        if a.startswith(flag + "="):
            continue
        out.append(a)
    return out


def launcher_command(argv: list[str], nproc: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "engines.cli", *argv]


def launch_env(nproc: int, base: dict | None = None) -> dict:
    """The children's environment: the cores split between them (torchrun would set 1 thread each),
    and this copy of genstudio importable whatever the working folder."""
    env = dict(os.environ if base is None else base)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("PYTHONUNBUFFERED", "1")  # events reach a reader (the studio) as they happen
    return env


def launch(argv: list[str], nproc: int, stdout=None) -> int:
    """Run `genstudio <argv>` as `nproc` processes and wait; returns the launcher's exit status."""
    env = launch_env(nproc)
    if getattr(sys, "frozen", False):
        return _launch_multiprocessing(argv, nproc, env)
    proc = subprocess.Popen(launcher_command(argv, nproc), env=env, stdout=stdout)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # Ctrl-C: the launcher passes it on to every process and waits for them
        proc.send_signal(signal.SIGINT)
        return proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _process_main(local_rank: int, argv: list[str], nproc: int, port: int, env: dict) -> None:
    os.environ.update(env)
    os.environ.update(RANK=str(local_rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(nproc),
                      LOCAL_WORLD_SIZE=str(nproc), GROUP_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from . import main
    code = main(argv)
    if code:
        sys.exit(code)


def _launch_multiprocessing(argv: list[str], nproc: int, env: dict) -> int:
    import torch.multiprocessing as mp
    try:
        mp.start_processes(_process_main, args=(argv, nproc, free_port(), env), nprocs=nproc, join=True,
                           start_method="spawn")
    except mp.ProcessExitedException as exc:
        return int(exc.exit_code or 1)
    except mp.ProcessRaisedException:
        return 1
    return 0
