"""Commands to a running `genstudio train` from another program (the studio), through a file.

The program appends one command per line to the file given with --control: pause, resume, stop,
save (a checkpoint now) or rollback. A file works the same under any launcher (torchrun passes no
stdin to its processes); rank 0 reads it and the loop hands the requests to every process.
"""

from __future__ import annotations

import threading
from pathlib import Path

COMMANDS = ("pause", "resume", "stop", "save", "rollback")


class ControlFile(threading.Thread):
    def __init__(self, path: str | Path, control, interval: float = 0.1):
        super().__init__(name="genstudio-control", daemon=True)
        self.path = Path(path)
        self.control = control
        self.interval = interval
        self._offset = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1  # only whole lines; a half-written one waits for its end
        self._offset += end
        for line in data[:end].decode(errors="replace").splitlines():
            self.apply(line.strip().lower())

    def apply(self, command: str) -> None:
        c = self.control
        if command == "pause":
            c.pause()
        elif command == "resume":
            c.resume()
        elif command == "stop":
            c.request_stop()
        elif command == "save":
            c.request_save()
        elif command == "rollback":
            c.request_rollback()

    def stop(self) -> None:
        self._done.set()
        self.poll()
