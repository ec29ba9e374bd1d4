"""The studio's drops go through the one safe opener too: the Latent panel's end point and the
thumbnails of files dropped on an input target refuse every hostile file of the ingestion tests
(an EPS file named .png included) with the opener's one-line reason."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QWidget

from studio.docks.latent import EndpointEditor
from studio.input_targets import _Look
from tests.engines.test_ingest_hostile import build_hostile
from tests.engines.test_safe_opener_sweep import FILES


class _Panel(QWidget):
    def __init__(self):
        super().__init__()
        self.said: list[str] = []

    def say(self, text: str) -> None:
        self.said.append(text)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    drop, _usable, reasons = build_hostile(root)
    (drop / "cats" / "eps_named.png").write_bytes((drop / "cats" / "eps.jpg").read_bytes())
    reasons = {**reasons, "eps_named.png": "EPS", "pipe.png": "not a regular file"}
    return {p.name: p for p in drop.rglob("*") if p.name in reasons}, reasons


def test_latent_end_point_drop_refuses_hostile_files(qtbot, hostile):
    paths, reasons = hostile
    panel = _Panel()
    qtbot.addWidget(panel)
    editor = EndpointEditor("A", False, panel)
    emitted = []
    editor.changed.connect(lambda name, spec: emitted.append(spec))
    for name in (*FILES, "eps_named.png"):
        editor.set_image_file(str(paths[name]))
        said = panel.said[-1]
        assert "\n" not in said and reasons[name].lower() in said.lower(), (name, said)
    assert not emitted


def test_drop_thumbnails_skip_hostile_files(qtbot, hostile):
    from PySide6.QtCore import QObject
    paths, _ = hostile
    receiver, got = QObject(), []
    look = _Look(1, [str(paths[n]) for n in (*FILES, "eps_named.png") if n != "pipe.png"], receiver,
                 lambda token, count, thumbs: got.append(thumbs))
    look.run()                                   # what the pool thread does; the result comes on the GUI thread
    qtbot.waitUntil(lambda: got == [[]], timeout=5_000)


def test_run_thumbnails_go_through_the_safe_opener(qtbot, hostile, tmp_path):
    """The Runs and Compare panels read a run's newest sample grid (a file of a shared run) through the
    one safe opener: every hostile file gives no picture (and no crash); a real PNG gives one."""
    import numpy as np
    from PIL import Image

    from engines.workspace import RunSummary
    from studio.docks.runs import THUMB, RunsPanel
    from studio.images import file_thumbnail
    from studio.state import StudioState

    paths, _ = hostile
    for name in (*FILES, "eps_named.png"):
        assert file_thumbnail(paths[name], 48).isNull(), name
    good = tmp_path / "step_6.png"
    Image.fromarray(np.full((54, 54), 200, np.uint8)).save(good)
    shown = file_thumbnail(good, 120)
    assert (shown.width(), shown.height()) == (120, 120)      # a small grid is enlarged to the box

    def summary(thumbnail):
        return RunSummary(path=tmp_path / "run", name="run", family="dcgan", status="finished", step=6,
                          total_steps=6, dataset="blobs", thumbnail=thumbnail)

    state = StudioState()
    panel = RunsPanel(state)
    qtbot.addWidget(panel)
    assert panel._item(summary(paths["eps_named.png"])).icon(0).isNull()
    assert panel._item(summary(paths["huge.png"])).icon(0).isNull()
    assert not panel._item(summary(good)).icon(0).isNull() and THUMB == 48
