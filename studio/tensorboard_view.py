"""View > Open TensorBoard: start `tensorboard --logdir WORKSPACE/runs` and open it in the browser.

Every run writes TensorBoard event files itself (engines/train/tensorboard.py, with the light
tensorboardX writer); the viewer is the separate `tensorboard` package, which is not a dependency of
genstudio. When it is missing the person is told how to install it; nothing else changes.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QProcess, QTimer, QUrl
from PySide6.QtGui import QDesktopServices

INSTALL = "pip install tensorboard"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class TensorBoardLauncher(QObject):
    """One TensorBoard process per studio, started on demand and ended with the studio."""

    def __init__(self, runs_folder: Callable[[], Path], say: Callable[[str, str], object], parent=None):
        super().__init__(parent)
        self.runs_folder, self.say = runs_folder, say
        self.process: QProcess | None = None
        self.url: str | None = None
        self.open_url: Callable[[str], object] = lambda url: QDesktopServices.openUrl(QUrl(url))  # tests replace it
        self._poll = QTimer(self, interval=250)
        self._poll.timeout.connect(self._check_started)
        self._waited = 0

    @staticmethod
    def installed() -> bool:
        return importlib.util.find_spec("tensorboard") is not None

    def command(self, logdir: Path, port: int) -> list[str]:
        return [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", str(port),
                "--host", "127.0.0.1"]

    def open(self) -> None:
        logdir = self.runs_folder()
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.open_url(self.url)
            return
        if not self.installed():
            self.say("info", f"TensorBoard is not installed. Every run already writes TensorBoard files into its "
                             f"folder; to view them, install the viewer into genstudio's Python ({INSTALL}) and "
                             f"choose View › Open TensorBoard again, or run: tensorboard --logdir {logdir}")
            return
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/"
        argv = self.command(logdir, port)
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.errorOccurred.connect(self._on_error)
        self.process.start(argv[0], argv[1:])
        self._waited = 0
        self._poll.start()
        self.say("info", f"Starting TensorBoard for {logdir} at {self.url} …")

    def _check_started(self) -> None:
        self._waited += self._poll.interval()
        if self.process is None or self.process.state() == QProcess.ProcessState.NotRunning:
            self._poll.stop()
            out = bytes(self.process.readAll()).decode(errors="replace").strip().splitlines() if self.process else []
            self.say("warning", "TensorBoard stopped before it was ready" + (f": {out[-1]}" if out else ""))
            return
        port = int(self.url.rsplit(":", 1)[1].strip("/"))
        if _listening(port):
            self._poll.stop()
            self.open_url(self.url)
            self.say("info", f"TensorBoard is open at {self.url} (it stops when the studio closes)")
        elif self._waited >= 60_000:
            self._poll.stop()
            self.say("warning", f"TensorBoard has not answered at {self.url} after a minute")

    def _on_error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._poll.stop()
            self.say("warning", f"TensorBoard could not be started ({self.process.errorString()})")

    def shutdown(self) -> None:
        self._poll.stop()
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.terminate()
            if not self.process.waitForFinished(3000):
                self.process.kill()
                self.process.waitForFinished(1000)
