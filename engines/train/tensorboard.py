"""TensorBoard event files beside metrics.jsonl: every logged scalar, every sample grid, the config as
hparams. `tensorboard --logdir WORKSPACE/runs` then shows every run (the run folder's name is its name).

Writer: tensorboardX, which needs only protobuf and numpy (a few MB). torch.utils.tensorboard writes
the same files but imports the whole `tensorboard` package (the web app, its server and their
dependencies, tens of MB) just to write them. Soft dependency: without tensorboardX a run trains as
usual and says once that it writes no TensorBoard files.

`open_log` is the one place that decides whether this process writes (a multi-process run checks its
rank there: only the main process may write).
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import numpy as np

INSTALL_HINT = "pip install tensorboardX"


class TensorBoardLog:
    """A thin writer over tensorboardX.SummaryWriter; every method is safe to call after close()."""

    def __init__(self, folder: Path, purge_step: int | None = None):
        from tensorboardX import SummaryWriter

        # purge_step: a resumed run drops what an abandoned later stretch had written
        # file names carry whole seconds: a session resumed within the same second needs its own name
        self._writer = SummaryWriter(logdir=str(folder), purge_step=purge_step or None, flush_secs=10,
                                     filename_suffix=f".{time.time_ns() % 10**9:09d}")

    def scalars(self, step: int, values: dict[str, float], prefix: str = "") -> None:
        for name, value in values.items():
            if isinstance(value, (int, float)) and np.isfinite(value):
                self._writer.add_scalar(f"{prefix}{name}", float(value), step)

    def image(self, step: int, grid: np.ndarray, tag: str = "samples") -> None:
        grid = np.asarray(grid)
        if grid.ndim == 2:
            grid = grid[..., None]
        if grid.shape[-1] == 1:  # TensorBoard shows grey images as RGB
            grid = np.repeat(grid, 3, axis=-1)
        self._writer.add_image(tag, grid, step, dataformats="HWC")

    def hparams(self, values: dict) -> None:
        """The run's family, config and training settings on the HParams dashboard."""
        from tensorboardX.summary import hparams

        plain = {k: (v if isinstance(v, (int, float, str, bool)) else json.dumps(v)) for k, v in values.items()}
        for summary in hparams(plain, {}):
            self._writer.file_writer.add_summary(summary)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def available() -> bool:
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        return False
    return True


def open_log(folder: Path, purge_step: int | None = None) -> TensorBoardLog | None:
    """A writer for this run folder, or None where this process must not or cannot write.
    (Multi-process training: None on every rank but the main one.)"""
    from ..runtime.distributed import rank
    if not available() or rank() != 0:
        return None
    return TensorBoardLog(folder, purge_step)


# --- reading back (tests, and anyone checking what was written) ------------------------------------
def read_events(path: str | Path) -> list:
    """Every Event record of one events.out.tfevents.* file (TFRecord framing, checksums skipped)."""
    from tensorboardX.proto import event_pb2

    data = Path(path).read_bytes()
    out, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        pos += 12                      # length, its masked CRC
        out.append(event_pb2.Event.FromString(data[pos:pos + length]))
        pos += length + 4              # the record, its masked CRC
    return out


def read_scalars(folder: str | Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] over every event file in a folder (oldest file first)."""
    found: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        for event in read_events(path):
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    found.setdefault(value.tag, []).append((int(event.step), float(value.simple_value)))
    return found


def open_for_run(run_dir, family: str, config, settings, step: int):
    """TensorBoard event files beside the run's metrics.jsonl (open_log decides who writes); yields a
    TrainWarning when there will be none."""
    from ..config import to_dict
    from . import events as ev
    if not available():
        yield ev.TrainWarning(step, f"this run writes no TensorBoard files: tensorboardX is not "
                              f"installed ({INSTALL_HINT})", "tensorboard")
        return
    try:
        log = open_log(run_dir.path, purge_step=step)
        if log is not None:
            log.hparams({"family": family, **{f"config/{k}": v for k, v in to_dict(config).items()},
                         **{f"settings/{k}": v for k, v in to_dict(settings).items()}})
    except Exception as exc:  # noqa: BLE001 - a side log must never stop training
        yield ev.TrainWarning(step, f"this run writes no TensorBoard files: {exc}", "tensorboard")
        return
    run_dir.tensorboard = log
