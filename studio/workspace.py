"""Where things live: the runs workspace, the bundled sample data, the settings file.

Tests point GENSTUDIO_WORKSPACE and GENSTUDIO_SETTINGS at temporary folders so they never touch
a person's own runs or layout.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ORGANISATION = "genstudio"
APPLICATION = "genstudio"
WORKSPACE_ENV = "GENSTUDIO_WORKSPACE"
SETTINGS_ENV = "GENSTUDIO_SETTINGS"


def workspace_root() -> Path:
    override = os.environ.get(WORKSPACE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs
    return Path(platformdirs.user_data_dir(APPLICATION, appauthor=False))


def runs_root() -> Path:
    return workspace_root() / "runs"


def new_run_dir(family: str) -> Path:
    """A fresh, not yet existing folder runs/<timestamp>-<family> (a suffix keeps it unique)."""
    base = runs_root() / f"{time.strftime('%Y%m%d-%H%M%S')}-{family}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def sample_digits_path() -> Path | None:
    """assets/sample-digits next to the package (works from a checkout and an editable install)."""
    here = Path(__file__).resolve().parent
    for root in (here.parent, *here.parents):
        candidate = root / "assets" / "sample-digits"
        if candidate.is_dir():
            return candidate
    return None


def make_settings():
    """The QSettings the studio uses: an INI file, per user, or the file named by GENSTUDIO_SETTINGS."""
    from PySide6.QtCore import QSettings
    override = os.environ.get(SETTINGS_ENV)
    if override:
        return QSettings(str(Path(override).expanduser()), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)
