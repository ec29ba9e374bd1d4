"""The desktop bundle (slow tier: builds for minutes; run with GENSTUDIO_TEST_BUNDLE=1 or as
`bash packaging/build.sh`): `packaging/build.sh` builds it, and from the bundle alone, with no .venv on
the PATH, the window opens (under Xvfb when installed) and a few training steps run from its CLI on one
process and on two."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.skipif(os.environ.get("GENSTUDIO_TEST_BUNDLE") != "1",
                                 reason="builds the PyInstaller bundle for minutes: GENSTUDIO_TEST_BUNDLE=1"),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bundle is built for Linux")]


def test_the_bundle_builds_opens_its_window_and_trains(tmp_path):
    env = {**os.environ, "GENSTUDIO_BUNDLE_WORK": str(tmp_path / "work"),
           "GENSTUDIO_BUNDLE_DIST": str(tmp_path / "dist")}
    r = subprocess.run(["bash", str(ROOT / "packaging/build.sh"), "--starts", "1"], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "window on " in r.stdout and "trained 4 steps from the bundle's CLI" in r.stdout
    assert "trained 4 steps on 2 processes from the bundle" in r.stdout
    assert (tmp_path / "dist" / "genstudio" / "genstudio").is_file()
