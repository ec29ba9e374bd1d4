import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from engines.data import ImageDataset
from studio.docks.dataset import CACHE_LIMIT, ThumbnailModel

from .helpers import dispose, write_blob_folder

# Qt 6 has only this constructor for drag-enter events; PySide marks it deprecated all the same.
pytestmark = pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")


def drop(widget, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    accepted = enter.isAccepted()
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return accepted


def test_dropping_a_folder_loads_it(qtbot, window, blob_folder):
    panel = window.panels["dataset"]
    panel.size_box.setValue(24)
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30_000) as got:
        assert drop(panel.drop_zone, [blob_folder])
    dataset = got.args[0]
    assert len(dataset) == 32 and dataset.size == 24 and dataset.class_names == ["c0", "c1"]
    assert panel.model.rowCount() == 32
    assert panel.summary.text() == dataset.summary()
    assert "32 images" in panel.summary.text()


def test_drag_without_local_files_is_refused(qtbot, window):
    mime = QMimeData()
    mime.setText("not a file")
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window.panels["dataset"].drop_zone, enter)
    assert not enter.isAccepted()


def test_folder_without_images_shows_a_message_and_the_app_goes_on(qtbot, window, tmp_path, blob_folder):
    empty = tmp_path / "no-images"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    panel = window.panels["dataset"]
    with qtbot.waitSignal(window.state.dataset_failed, timeout=30_000):
        drop(panel.drop_zone, [empty])
    assert panel.error.isVisible() and "no usable images" in panel.error.text()
    assert any("no usable images" in t for t in window.message_bar.texts())
    assert window.banner.isVisible()
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30_000):
        drop(panel.drop_zone, [blob_folder])
    assert not panel.error.isVisible()


def test_sample_digits_load_with_one_click(qtbot, window):
    panel = window.panels["dataset"]
    panel.size_box.setValue(16)
    with qtbot.waitSignal(window.state.dataset_changed, timeout=60_000) as got:
        qtbot.mouseClick(panel.sample_button, Qt.MouseButton.LeftButton)
    assert len(got.args[0]) == 1797 and got.args[0].num_classes == 10


def test_changing_size_or_channels_reloads(qtbot, window, blob_folder):
    from .helpers import load_into
    load_into(qtbot, window, blob_folder)
    panel = window.panels["dataset"]
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30_000) as got:
        panel.channels_box.setCurrentIndex(panel.channels_box.findText("RGB"))
    assert got.args[0].channels == 3
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30_000) as got:
        panel.size_box.setValue(20)
    assert got.args[0].size == 20 and got.args[0].channels == 3


def test_thumbnail_model_handles_tens_of_thousands(qtbot):
    n = 30_000
    images = np.zeros((n, 8, 8, 1), np.uint8)
    images[:, 2:6, 2:6] = (np.arange(n) % 255)[:, None, None, None].astype(np.uint8)
    model = ThumbnailModel()
    model.set_dataset(ImageDataset(images, np.zeros(n, np.int64), []))
    assert model.rowCount() == n
    for row in range(0, n, 7):
        model.data(model.index(row), Qt.ItemDataRole.DecorationRole)
    pix = model.data(model.index(n - 1), Qt.ItemDataRole.DecorationRole)
    assert not pix.isNull()
    assert len(model._cache) <= CACHE_LIMIT


def test_command_line_folders_are_loaded(qtbot, tmp_path):
    from studio.app import create_window
    folder = write_blob_folder(tmp_path / "cli")
    w = create_window([str(folder)])
    qtbot.waitUntil(lambda: w.state.dataset is not None, timeout=30_000)
    assert len(w.state.dataset) == 32
    w.state.shutdown()
    w.close()
    dispose(w)


def test_an_out_of_range_size_says_the_range_instead_of_becoming_another_size(qtbot, window):
    from PySide6.QtCore import Qt

    panel = window.panels["dataset"]
    box = panel.size_box
    window.docks["dataset"].raise_()
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, "300")
    assert box.text() == "300 px" and not box.hasAcceptableInput()   # not silently 30
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert box.value() == 32 and window.state.image_size == 32
    assert panel.error.isVisibleTo(panel)
    assert panel.error.text() == "Size must be between 16 and 256 px; 300 is out of range."


def test_a_second_input_fits_the_dataset_dock_at_1280x720(qtbot, laptop_window):
    """With CycleGAN's set B the panel scrolled sideways: descriptions and Clear were cut."""
    from .helpers import in_sight
    window = laptop_window
    model = window.panels["model"]
    model.family_box.setCurrentIndex(model.family_box.findData("cyclegan"))
    dataset = window.panels["dataset"]
    from studio.input_targets import InputTarget
    qtbot.waitUntil(lambda: bool(dataset.findChildren(InputTarget)))
    target = dataset.findChildren(InputTarget)[0]
    qtbot.waitUntil(lambda: in_sight(window, "dataset", target.clear))
    scroll = window.docks["dataset"].widget()
    assert scroll.horizontalScrollBar().maximum() == 0          # nothing cut sideways
    assert in_sight(window, "dataset", target.choose) and in_sight(window, "dataset", dataset.drop_zone)
