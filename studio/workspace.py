"""Where things live: the runs workspace, the bundled sample data, the settings file.

Tests point GENSTUDIO_WORKSPACE and GENSTUDIO_SETTINGS at temporary folders so they never touch
a person's own runs or layout.
"""

from __future__ import annotations

import os
from pathlib import Path

from engines import workspace as engine_workspace

ORGANISATION = "genstudio"
APPLICATION = "genstudio"
WORKSPACE_ENV = "GENSTUDIO_WORKSPACE"
SETTINGS_ENV = "GENSTUDIO_SETTINGS"


def workspace_root() -> Path:
    return engine_workspace.default_workspace()


def runs_root() -> Path:
    return engine_workspace.runs_folder(workspace_root())


def new_run_dir(family: str) -> Path:
    """A new run folder's path in the workspace (the command line's naming rule); the training creates
    it, and says so when it cannot."""
    return engine_workspace.run_dir_path(workspace_root(), family)


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
