"""A multi-process training run, started as a subprocess whose events stream back like a thread's.

The studio runs `genstudio train --plan FILE --nproc-per-node N --events jsonl --control FILE` (through
QProcess, so nothing blocks the GUI thread): rank 0 prints one JSON object per event on stdout,
which becomes the very same ev.* objects and signals an in-process run gives (ProcessWorker has
TrainWorker's signals), so every panel works unchanged; sample grids come back as the PNG paths
rank 0 wrote. Pause, resume, stop, save now and roll back are lines appended to the control file.
Closing the studio asks the run to stop (it saves a checkpoint), waits, and only then terminates it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from engines.train import events as ev

from .background import yield_process_to_gui
from .worker import RunRequest


def train_arguments(request: RunRequest, nproc: int, control: Path) -> list[str]:
    """The `genstudio train` arguments that train `request` on `nproc` processes: the plan goes as a
    JSON file (plan.json beside the control file), the very plan the in-process thread would train."""
    plan = replace(request.plan, processes=nproc)
    path = plan.write(Path(control).with_name("plan.json"))
    return ["train", "--plan", str(path), "--nproc-per-node", str(nproc), "--events", "jsonl",
            "--control", str(control)]


def python_command() -> list[str]:
    """How to start genstudio's CLI: this Python with -m, or the frozen executable itself."""
    if getattr(sys, "frozen", False):
        return [sys.executable]  # the bundle's entry point takes CLI commands (studio.entry)
    return [sys.executable, "-m", "engines.cli"]


class ProcessControl:
    """Control's interface for the studio, written as lines to the run's control file."""

    def __init__(self, path: Path):
        self.path = path
        self._paused = False

    def _send(self, command: str) -> None:
        with open(self.path, "a") as f:
            f.write(command + "\n")

    def pause(self) -> None:
        self._paused = True
        self._send("pause")

    def resume(self) -> None:
        self._paused = False
        self._send("resume")

    def request_stop(self) -> None:
        self._send("stop")

    def request_save(self) -> None:
        self._send("save")

    def request_rollback(self, before_step: int | None = None) -> None:
        self._send("rollback")

    @property
    def paused(self) -> bool:
        return self._paused


class ProcessWorker(QObject):
    """TrainWorker's signals, fed from the subprocess's JSON lines."""

    # every engine event (engines.train.events), unchanged: StudioState is the one place that routes them
    event = Signal(object)
    done = Signal()

    def __init__(self, request: RunRequest, nproc: int, parent: QObject | None = None):
        super().__init__(parent)
        self.request = request
        self.nproc = nproc
        self._dir = tempfile.TemporaryDirectory(prefix="genstudio-run-")
        self.control_path = Path(self._dir.name) / "control"
        self.control_path.write_text("")
        self.control = ProcessControl(self.control_path)
        self._buffer = b""
        self._stderr: list[str] = []
        self._ended = False       # a Finished or Failed event arrived
        self._last_step = 0
        self.process = QProcess(self)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._on_exit)
        self.process.errorOccurred.connect(self._on_error)
        # the training processes keep every core busy: the window gets one first when it needs one
        self.process.started.connect(self._on_process_started)

    def start(self) -> None:
        try:
            command = python_command() + train_arguments(self.request, self.nproc, self.control_path)
        except Exception as exc:  # noqa: BLE001 - a request the CLI cannot express: say so, end the run
            self.event.emit(ev.Failed(0, f"cannot start the training processes: {type(exc).__name__}: {exc}"))
            self._ended = True
            self._finish()
            return
        env = QProcessEnvironment.systemEnvironment()
        root = str(Path(__file__).resolve().parents[1])
        env.insert("PYTHONPATH", os.pathsep.join(filter(None, [root, env.value("PYTHONPATH")])))
        env.insert("PYTHONUNBUFFERED", "1")
        self.process.setProcessEnvironment(env)
        self.process.start(command[0], command[1:])

    def _on_process_started(self) -> None:
        yield_process_to_gui(self.process.processId())

    # --- events in -------------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._handle_line(line.decode(errors="replace").strip())

    def _handle_line(self, line: str) -> None:
        if not line.startswith("{"):
            return  # anything else a library printed
        try:
            event = ev.from_json(json.loads(line))
        except Exception as exc:  # noqa: BLE001 - a line we cannot use must not end the run's display
            self._stderr.append(f"unreadable event ({type(exc).__name__}: {exc}): {line[:200]}")
            return
        self._last_step = getattr(event, "step", self._last_step)
        if isinstance(event, (ev.Finished, ev.Failed)):
            self._ended = True
        self.event.emit(event)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError().data()).decode(errors="replace")
        self._stderr = (self._stderr + text.splitlines())[-200:]

    def _on_error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.event.emit(ev.Failed(0, f"could not start the training processes ({self.process.errorString()})"))
            self._finish()

    def _on_exit(self, code: int, _status) -> None:
        self._read_stdout()
        if self._buffer:
            self._handle_line(self._buffer.decode(errors="replace").strip())
            self._buffer = b""
        if not self._ended:  # it died without a word (killed, a launcher error): say what it printed
            lines = [line for line in self._stderr if line.strip()]
            errors = [line for line in lines if line.startswith("genstudio: error")]
            message = (errors[-1].removeprefix("genstudio: error: ") if errors else
                       f"the training processes ended with exit code {code}")
            self.event.emit(ev.Failed(self._last_step, message, "\n".join(lines[-60:])))
        self._finish()

    def _finish(self) -> None:
        if not getattr(self, "_done_sent", False):
            self._done_sent = True
            self.done.emit()

    def stop_and_wait(self, timeout_ms: int) -> bool:
        """Ask the run to stop (it saves a checkpoint), wait; terminate, then kill, if it will not."""
        if self.process.state() == QProcess.ProcessState.NotRunning:
            return True
        self.control.request_stop()
        if self.process.waitForFinished(timeout_ms):
            return True
        self.process.terminate()  # SIGTERM: the launcher passes it on to every process
        if self.process.waitForFinished(10_000):
            return True
        self.process.kill()
        return self.process.waitForFinished(5_000)


class ProcessTrainingSession(QObject):
    """TrainingSession's interface (start, launch, request_stop, join, active, control) for a run
    on several processes."""

    ended = Signal()

    def __init__(self, nproc: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self.nproc = nproc
        self.worker: ProcessWorker | None = None
        self.control: ProcessControl | None = None

    @property
    def active(self) -> bool:
        return self.worker is not None

    def start(self, request: RunRequest) -> ProcessWorker:
        if self.active:
            raise RuntimeError("a run is already in progress")
        self.worker = ProcessWorker(request, self.nproc, self)
        self.control = self.worker.control
        self.worker.done.connect(self._on_done)
        return self.worker

    def launch(self) -> None:
        assert self.worker is not None
        self.worker.start()

    def _on_done(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.deleteLater()
        self.ended.emit()

    def request_stop(self) -> None:
        if self.control is not None and self.worker is not None:
            self.control.request_stop()

    def join(self, timeout_ms: int = 60_000) -> bool:
        worker = self.worker
        if worker is None:
            return True
        ok = worker.stop_and_wait(timeout_ms)
        if ok:
            worker._on_exit(worker.process.exitCode(), None)
        return ok


def processes_available() -> int:
    """How many processes the Training settings offer: the GPUs, or (CPU) the cores, at most 8."""
    try:
        import torch
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001
        gpus = 0
    return gpus if gpus > 1 else min(8, os.cpu_count() or 1)


