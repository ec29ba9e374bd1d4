"""Dataset panel: skip table, preprocessing settings (fit, background, flip), preview, details."""

from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from .helpers import load_into, write_blob_folder


def hostile_folder(root):
    folder = write_blob_folder(root / "data", n=8)
    (folder / "c0" / "zero.png").write_bytes(b"")
    (folder / "c1" / "notes.jpg").write_text("not a picture")
    (folder / "c1" / "a_eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n")
    return folder


def test_skip_table_lists_every_skipped_file_and_sorts(qtbot, window, tmp_path):
    folder = hostile_folder(tmp_path)
    load_into(qtbot, window, folder)
    panel = window.panels["dataset"]
    table = panel.skip_table
    assert table.model.rowCount() == 3
    assert panel.tabs.tabText(panel.tabs.indexOf(table)) == "Skipped (3)"
    by_reason = table.visible_rows()                      # sorted by reason to begin with
    assert [r[2] for r in by_reason] == sorted((r[2] for r in by_reason), key=str.lower)
    assert {r[0] for r in by_reason} == {"zero.png", "notes.jpg", "a_eps.png"}
    assert any("empty" in r[2] for r in by_reason if r[0] == "zero.png")
    panel.tabs.setCurrentWidget(table)
    header = table.view.horizontalHeader()
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(0) + 5, header.height() // 2))
    assert header.sortIndicatorSection() == 0
    names = [r[0] for r in table.visible_rows()]
    assert names in (sorted(names, key=str.lower), sorted(names, key=str.lower, reverse=True))
    assert names != [r[0] for r in by_reason]             # the click re-sorted by file name
    table.filter.setText("eps")
    assert [r[0] for r in table.visible_rows()] == ["a_eps.png"]


def test_fit_and_background_reload_with_the_new_settings(qtbot, window, tmp_path):
    folder = tmp_path / "wide"
    folder.mkdir()
    for i in range(3):
        img = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
        img.paste((200, 0, 0, 255), (10, 0, 30, 20))
        img.save(folder / f"{i}.png")
    load_into(qtbot, window, folder)
    panel = window.panels["dataset"]
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30_000) as got:
        panel.fit_box.setCurrentIndex(panel.fit_box.findData("pad"))
    assert got.args[0].info["settings"]["fit"] == "pad"
    panel.ask_colour = lambda current: QColor(0, 0, 255)
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30_000) as got:
        qtbot.mouseClick(panel.background_button, Qt.MouseButton.LeftButton)
    data = got.args[0]
    assert data.info["settings"]["background"] == "#0000ff" and panel.background_button.text() == "#0000ff"
    assert tuple(data.images[0, 0, 0]) == (0, 0, 255)     # padding and transparency show the chosen colour
    panel.ask_colour = lambda current: QColor()           # the person cancels the colour dialog
    with qtbot.assertNotEmitted(window.state.dataset_loading):
        qtbot.mouseClick(panel.background_button, Qt.MouseButton.LeftButton)
    assert window.state.background == (0, 0, 255)


def test_flip_is_the_training_setting_and_the_preview_shows_it(qtbot, window, blob_folder):
    load_into(qtbot, window, blob_folder)
    panel = window.panels["dataset"]
    preview = panel.preview
    assert sum(not label.pixmap().isNull() for label in preview.labels) == 8
    assert not any(label.isVisibleTo(preview) for label in preview.flipped_labels)
    panel.flip_box.setChecked(True)
    assert window.state.settings.flip is True
    assert window.panels["model"].settings_form.editor("flip").isChecked()   # one setting, shown twice
    assert all(label.isVisibleTo(preview) for label in preview.flipped_labels)
    first = preview.labels[0].pixmap().toImage()
    mirrored = preview.flipped_labels[0].pixmap().toImage()
    assert first.pixel(2, 30) == mirrored.pixel(first.width() - 3, 30)
    window.panels["model"].settings_form.editor("flip").setChecked(False)   # and back from the Model panel
    assert window.state.settings.flip is False and not panel.flip_box.isChecked()
    window.state.training_state_changed.emit("running")          # settings belong to a running run
    assert not panel.flip_box.isEnabled()
    window.state.training_state_changed.emit("idle")
    assert panel.flip_box.isEnabled()


def test_details_show_class_counts_formats_and_original_sizes(qtbot, window, tmp_path):
    folder = write_blob_folder(tmp_path / "d", n=6, size=20)
    load_into(qtbot, window, folder)
    text = window.panels["dataset"].details.text()
    assert "c0 3" in text and "c1 3" in text
    assert "PNG 6" in text and "L 6" in text and "20–20 × 20–20" in text


def test_cancel_stops_the_decode_and_caches_nothing(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_CACHE", str(tmp_path / "cache"))
    folder = write_blob_folder(tmp_path / "many", n=300, size=64)
    panel = window.panels["dataset"]
    state = window.state
    with qtbot.waitSignal(state.dataset_failed, timeout=30_000) as got:
        state.load([str(folder)], size=32)
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert "cancelled" in got.args[0] and state.dataset is None
    assert not panel.loading_row.isVisible()
    qtbot.waitUntil(lambda: not state.loader._running, timeout=30_000)   # the worker thread ended
    assert not list((tmp_path / "cache").rglob("index.json"))           # it stopped before caching
    load_into(qtbot, window, folder, size=32)                            # and the next load works
    assert len(state.dataset) == 300


def test_a_long_reason_wraps_in_full_instead_of_being_cut(qtbot):
    """The Skipped tab cut long reasons at the panel's edge: a reason now wraps and its row grows to
    hold it; long paths are elided in the middle, and every cell's tooltip has the path and reason."""
    from PySide6.QtGui import QFontMetrics

    from engines.data import Skipped
    from studio.docks.dataset_report import SkipTable

    table = SkipTable()
    qtbot.addWidget(table)
    table.resize(420, 300)
    table.show()
    reason = ("unsupported format (EPS): only PNG, JPEG, BMP, GIF, TIFF and WebP images are read, by their "
              "content and not by their name, so this file was left out of the training set")
    table.set_skipped([Skipped("/data/some/deep/folder/of/images/file_with_a_long_name.png", reason),
                       Skipped("/data/b.png", "empty file")])
    view = table.view
    row = [r for r in range(2) if table.proxy.index(r, 2).data() == reason][0]
    width = view.columnWidth(2)
    assert 0 < width < QFontMetrics(view.font()).horizontalAdvance(reason)   # too wide for one line
    needed = QFontMetrics(view.font()).boundingRect(0, 0, width - 8, 10_000, Qt.TextFlag.TextWordWrap,
                                                    reason).height()
    assert view.rowHeight(row) >= needed > QFontMetrics(view.font()).height()
    assert reason in table.proxy.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
