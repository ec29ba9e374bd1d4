"""packaging/install-desktop-entry.sh puts genstudio in the application menu with its icon, and the
entry's command opens the studio."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="freedesktop menus are Linux's")


def install(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "GENSTUDIO_SKIP_SETUP": "1"}
    return subprocess.run(["bash", str(ROOT / "packaging/install-desktop-entry.sh"), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_entry_and_icon_install_and_the_entry_opens_the_studio(tmp_path):
    r = install(tmp_path)
    assert r.returncode == 0, r.stderr
    desktop = tmp_path / "data/applications/genstudio.desktop"
    assert (tmp_path / "data/icons/hicolor/scalable/apps/genstudio.svg").read_bytes() == \
        (ROOT / "assets/genstudio.svg").read_bytes()
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(desktop)
    fields = entry["Desktop Entry"]
    assert fields["Type"] == "Application" and fields["Icon"] == "genstudio" and fields["Name"] == "genstudio"
    command = shlex.split(fields["Exec"])
    assert command[-1] == "%F" and Path(command[0]) == ROOT / ".venv/bin/genstudio"
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    # The menu runs the command with the dropped files for %F; with none, it opens the studio's window.
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    opened = subprocess.run([command[0], "--smoke-launch"], env=env, capture_output=True, text=True, timeout=180)
    assert opened.returncode == 0, opened.stderr
    assert "window opened on offscreen" in opened.stdout
    r = install(tmp_path, "--uninstall")
    assert r.returncode == 0 and not desktop.exists()


def test_a_folder_without_a_bundle_is_refused_in_one_line(tmp_path):
    r = install(tmp_path, str(tmp_path))
    assert r.returncode == 2 and "holds no genstudio program" in r.stderr.strip()
