"""View > Open TensorBoard: says how to install it when missing; starts it and opens the page when there."""

import sys


def test_open_tensorboard_says_how_to_install_it_when_missing(qtbot, window, monkeypatch):
    launcher = window.tensorboard
    monkeypatch.setattr(launcher, "installed", lambda: False)
    shown = []
    launcher.say = lambda level, text: shown.append(text)
    window.tensorboard_action.trigger()
    assert shown and "pip install tensorboard" in shown[-1] and "tensorboard --logdir" in shown[-1]
    assert launcher.process is None


def test_open_tensorboard_starts_the_server_and_opens_its_page(qtbot, window, monkeypatch, tmp_path):
    launcher = window.tensorboard
    said, opened = [], []
    launcher.say = lambda level, text: said.append(text)
    launcher.open_url = opened.append
    monkeypatch.setattr(launcher, "installed", lambda: True)
    # a stand-in web server (the real viewer is an optional install): answers on the port it is given
    monkeypatch.setattr(launcher, "command", lambda logdir, port: [
        sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)])
    window.tensorboard_action.trigger()
    qtbot.waitUntil(lambda: bool(opened), timeout=20_000)
    assert opened == [launcher.url] and "TensorBoard is open" in said[-1]
    window.tensorboard_action.trigger()  # already running: just open the page again
    assert opened == [launcher.url, launcher.url]
    launcher.shutdown()
    assert launcher.process.state() == launcher.process.ProcessState.NotRunning
