"""Which system libraries Qt's X11 (xcb) platform plugin lacks, and the Debian packages that provide them.

Qt aborts with a long "Could not load the Qt platform plugin" message when one is missing; the studio
asks here first (before any QApplication exists) and names the packages to install instead, and
`scripts/setup.sh` installs them when it runs as root. Plain Python: no Qt is imported, so the check
itself cannot trip over the missing libraries.

`python -m studio.platform_deps` prints the missing Debian packages, one a line (nothing when none).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Qt 6.5+ opens these at run time (dlopen), so `ldd` of the plugin cannot see them.
RUNTIME_LIBRARIES = ("libxcb-cursor.so.0",)

# Sonames whose Debian package does not follow the library-package naming rule (see `debian_package`).
PACKAGE_EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
    "libz.so.1": "zlib1g",
    "libpng16.so.16": "libpng16-16",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def debian_package(soname: str) -> str:
    """The Debian package that ships `soname`: Debian's rule names a library package after its soname
    (libxcb-icccm.so.4 -> libxcb-icccm4; a name ending in a digit takes a hyphen: libdbus-1.so.3 ->
    libdbus-1-3), lower-cased; a few well-known exceptions are listed."""
    if soname in PACKAGE_EXCEPTIONS:
        return PACKAGE_EXCEPTIONS[soname]
    match = re.fullmatch(r"(.+?)\.so\.([0-9][0-9.]*)", soname)
    if not match:
        return soname.lower()
    name, version = match.group(1).lower(), match.group(2).split(".")[0]
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def xcb_plugin() -> Path | None:
    """PySide6's libqxcb.so, found without importing Qt (None when PySide6 or the plugin is absent)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.exists() else None


def not_found_in_ldd(output: str) -> list[str]:
    """Sonames `ldd` reported as "not found", in order, each once."""
    return list(dict.fromkeys(_NOT_FOUND.findall(output)))


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(plugin: Path | None = None) -> list[str]:
    """Sonames the xcb plugin needs that this system cannot load (empty when all are there, when the
    plugin is not installed, or when this is not Linux)."""
    if not sys.platform.startswith("linux"):
        return []
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return []
    missing: list[str] = []
    ldd = shutil.which("ldd")
    if ldd:
        try:
            result = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20)
            missing = not_found_in_ldd(result.stdout)
        except (OSError, subprocess.TimeoutExpired):
            missing = []
    missing += [lib for lib in RUNTIME_LIBRARIES if lib not in missing and not _loadable(lib)]
    return missing


def missing_packages(plugin: Path | None = None) -> list[str]:
    return list(dict.fromkeys(debian_package(lib) for lib in missing_libraries(plugin)))


def uses_xcb(environ: dict | None = None) -> bool:
    """Whether Qt will pick the X11 (xcb) plugin: asked for by name, or its default outside Wayland."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(":")[0].split(";")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")


def startup_problem(environ: dict | None = None, plugin: Path | None = None) -> str | None:
    """A message saying what to install when the studio's window cannot open on X11; None when it can
    (or when Qt will not use the xcb plugin)."""
    env = os.environ if environ is None else environ
    if not uses_xcb(env):
        return None
    libraries = missing_libraries(plugin)
    if not libraries:
        if env.get("DISPLAY"):
            return None
        return ("genstudio: error: there is no display to open the studio on (DISPLAY is not set).\n"
                "On a machine without a screen use the command line (`genstudio --help`), or run the "
                "studio in a virtual display: `xvfb-run genstudio`")
    packages = list(dict.fromkeys(debian_package(lib) for lib in libraries))
    named = ", ".join(libraries[:-1]) + " and " + libraries[-1] if len(libraries) > 1 else libraries[0]
    return ("genstudio: error: the studio cannot open a window: Qt's X11 (xcb) plugin needs "
            f"{named}, which {'is' if len(libraries) == 1 else 'are'} not installed.\n"
            f"Install {'it' if len(packages) == 1 else 'them'} with:  sudo apt-get install {' '.join(packages)}\n"
            "(or run `bash scripts/setup.sh` as root, which installs them)")


if __name__ == "__main__":
    print("\n".join(missing_packages()))
