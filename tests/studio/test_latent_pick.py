"""Latent end points from thumbnails: "Gallery sample" for A then B gives two different samples, the
Gallery's selection is used, and a clicked Dataset or Gallery thumbnail becomes the waiting end point
(with its class on conditional runs)."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engines.imaging import make_grid
from engines.train import events as ev
from tests.helpers import train_tiny_conditional_run


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    return train_tiny_conditional_run(tmp_path_factory.mktemp("pick"))  # (images folder, cVAE run)


def _ready(qtbot, window, conditional):
    folder, run = conditional
    state, latent = window.state, window.panels["latent"]
    with qtbot.waitSignal(state.dataset_changed, timeout=30_000):
        state.load([str(folder)], size=16)
    with qtbot.waitSignal(latent.service.loaded, timeout=30_000):
        latent.open_run(run)
    qtbot.waitUntil(lambda: all(n in latent.service.latents for n in "AB"), timeout=30_000)
    images = np.stack([np.full((16, 16, 1), 20 * i, np.uint8) for i in range(8)])  # 8 distinct tiles
    state.samples.emit(ev.Samples(20, images, make_grid(images), None, ("dark", "light") * 4))
    return latent, window.panels["gallery"], window.panels["dataset"], images


def _placed(qtbot, latent, name):
    """The model placed the end point (its job ran; nothing failed)."""
    failed = []
    latent.service.failed.connect(lambda *a: failed.append(a))
    qtbot.waitUntil(lambda: latent.service.pending == 0 and name in latent.service.latents, timeout=30_000)
    assert not failed


def test_gallery_sample_for_a_then_b_gives_different_samples(qtbot, window, conditional):
    latent, gallery, _, images = _ready(qtbot, window, conditional)
    a, b = latent.endpoints["A"], latent.endpoints["B"]
    for _ in range(5):  # whatever the draws, B never repeats A's sample
        a.from_gallery()
        b.from_gallery()
        assert a.gallery_index is not None and b.gallery_index is not None and a.gallery_index != b.gallery_index
        assert a.edit.text() != b.edit.text()
        assert not np.array_equal(a.spec[1], b.spec[1])


def test_the_gallery_selection_and_clicked_thumbnails_become_end_points(qtbot, window, conditional):
    latent, gallery, dataset, images = _ready(qtbot, window, conditional)
    a, b = latent.endpoints["A"], latent.endpoints["B"]
    view = gallery.grid_view
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.tile_rect(5).center())
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=view.tile_rect(2).center())
    assert gallery.selected() == [2, 5]
    a.from_gallery()  # the selection first, in order, each tile once
    b.from_gallery()
    assert (a.gallery_index, b.gallery_index) == (2, 5)
    assert np.array_equal(a.spec[1], images[2]) and b.class_box.currentText() == "light"  # tile 5's class
    _placed(qtbot, latent, "B")

    b.wait_for_click()  # From… → Click an image: the next clicked thumbnail is B
    assert "end point B" in latent.status.text()
    row = 12  # a "light" image of the dataset
    dataset.view.clicked.emit(dataset.model.index(row))
    data = window.state.dataset
    assert b.edit.text() == f"dataset image {row}" and np.array_equal(b.spec[1], data.images[row])
    assert b.class_box.currentText() == data.class_names[int(data.labels[row])]
    _placed(qtbot, latent, "B")
    dataset.view.clicked.emit(dataset.model.index(3))  # no end point waiting: nothing changes
    assert b.edit.text() == f"dataset image {row}"

    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.tile_rect(7).center())
    assert a.gallery_index == 2  # a plain click in the Gallery only selects
    window.state.endpoint_offered.emit("A", gallery.pick(7))  # the tile's menu: "Latent end point A"
    assert a.gallery_index == 7 and np.array_equal(a.spec[1], images[7])
    _placed(qtbot, latent, "A")
