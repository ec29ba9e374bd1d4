"""The studio's real window opens on X11: once under Xvfb, with Qt's xcb plugin, as a person's desktop
would show it (the offscreen tests cannot see a missing platform library), and the checks that replace
Qt's abort message with the packages to install."""

from __future__ import annotations

import os
import random
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio import platform_deps

ROOT = Path(__file__).resolve().parents[1]


def _start_xvfb(log: Path) -> tuple[subprocess.Popen, str]:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            pytest.fail("Xvfb is missing though this machine can install it: run `bash scripts/setup.sh`")
        pytest.skip("Xvfb is not installed and cannot be installed here (not root or no apt-get); "
                    "`sudo apt-get install xvfb` enables this check")
    # A random display number rather than the first free one, so test runs in parallel rarely race for
    # the same number (a taken one makes Xvfb exit, and the next number is tried).
    for number in random.sample(range(300, 30000), 5):
        read_end, write_end = os.pipe()
        with log.open("a") as err:
            server = subprocess.Popen([xvfb, f":{number}", "-displayfd", str(write_end), "-screen", "0",
                                       "1280x720x24", "-nolisten", "tcp"], pass_fds=(write_end,),
                                      stdout=subprocess.DEVNULL, stderr=err)
        os.close(write_end)
        # Xvfb writes the number and a newline separately when ready, and stops if the pipe is closed
        # between the two: read up to the newline, and keep the pipe open while the server runs.
        said = b""
        while not said.endswith(b"\n") and select.select([read_end], [], [], 30)[0]:
            chunk = os.read(read_end, 64)
            if not chunk:
                break
            said += chunk
        server.display_pipe = read_end
        if said.strip() == str(number).encode():
            break
        _stop(server)
    else:
        pytest.fail(f"Xvfb did not start: {log.read_text()[-2000:]}")
    return server, f":{number}"


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=10)
    os.close(server.display_pipe)


def _launch(display: str, shot: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "studio.entry", "--smoke-launch", str(shot)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_real_window_opens_and_closes_under_xvfb(tmp_path):
    shot = tmp_path / "window.png"
    log = tmp_path / "xvfb.log"
    server, display = _start_xvfb(log)
    try:
        result = _launch(display, shot)
    finally:
        alive = server.poll() is None
        _stop(server)
    assert result.returncode == 0, (f"{result.stderr}\nXvfb {display} (running: {alive}) said:\n"
                                    f"{log.read_text()}")
    assert "window opened on xcb" in result.stdout
    assert shot.stat().st_size > 1000


def test_missing_xcb_libraries_are_named_with_their_debian_packages():
    ldd = ("\tlibQt6Gui.so.6 => /x/libQt6Gui.so.6 (0x1)\n\tlibxcb-icccm.so.4 => not found\n"
           "\tlibxcb-keysyms.so.1 => not found\n\tlibxcb-icccm.so.4 => not found\n")
    assert platform_deps.not_found_in_ldd(ldd) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    packages = {so: platform_deps.debian_package(so) for so in (
        "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0", "libxcb-render-util.so.0",
        "libxkbcommon-x11.so.0", "libdbus-1.so.3", "libEGL.so.1", "libglib-2.0.so.0")}
    assert packages == {
        "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-keysyms.so.1": "libxcb-keysyms1",
        "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-render-util.so.0": "libxcb-render-util0",
        "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libdbus-1.so.3": "libdbus-1-3",
        "libEGL.so.1": "libegl1", "libglib-2.0.so.0": "libglib2.0-0"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin is Linux's")
def test_the_studio_names_packages_instead_of_qts_abort(tmp_path):
    # A real shared object that needs a library this system lacks, as libqxcb.so needs libxcb-icccm.so.4
    # on a fresh Debian machine: Python's _ctypes module with its libc dependency renamed.
    import _ctypes
    if shutil.which("ldd") is None:
        pytest.skip("no ldd on this system")
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(Path(_ctypes.__file__).read_bytes().replace(b"libc.so.6", b"libq.so.6"))
    assert platform_deps.missing_libraries(plugin)[0] == "libq.so.6"
    message = platform_deps.startup_problem({"DISPLAY": ":0"}, plugin)
    assert message.startswith("genstudio: error: the studio cannot open a window: Qt's X11 (xcb) plugin "
                              "needs libq.so.6")
    assert "sudo apt-get install libq6" in message
    # Not asked when Qt will not use xcb (the offscreen tests, a Wayland session).
    assert platform_deps.startup_problem({"QT_QPA_PLATFORM": "offscreen"}, plugin) is None
    assert platform_deps.startup_problem({"WAYLAND_DISPLAY": "wayland-0"}, plugin) is None
    # The real plugin on this machine (set up by scripts/setup.sh) needs nothing more.
    assert platform_deps.startup_problem({"DISPLAY": ":0"}) is None
    assert "no display" in platform_deps.startup_problem({"QT_QPA_PLATFORM": "xcb"})
