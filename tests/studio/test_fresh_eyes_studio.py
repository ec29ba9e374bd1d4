"""Studio defects a new user met (hqa): each test asserts the fixed behaviour."""

from .helpers import load_into


def test_a_failed_drop_keeps_the_images_shown_and_a_later_size_change_reloads_them(qtbot, window, blob_folder,
                                                                                  tmp_path):
    """Dropping a folder without images kept the dataset shown but remembered the failed folder: changing
    the size then reloaded the failed folder (failing again) and the shown images never changed size."""
    state = window.state
    shown = load_into(qtbot, window, blob_folder)
    (tmp_path / "empty").mkdir()
    with qtbot.waitSignal(state.dataset_failed, timeout=30_000) as failed:
        window.panels["dataset"].load_paths([str(tmp_path / "empty")])
    assert "no usable images" in failed.args[0] and state.dataset is shown
    assert state.sources == [str(blob_folder)]
    with qtbot.waitSignal(state.dataset_changed, timeout=30_000) as changed:
        window.panels["dataset"].size_box.setValue(24)
    assert changed.args[0].size == 24 and len(changed.args[0]) == len(shown)


def test_scores_without_a_reference_say_why_in_a_sentence_of_its_own(qtbot):
    """The Tools status ran the reason into the next sentence: "...no held-out reference Skipped 2: ..."."""
    import numpy as np

    from studio.docks.tools import ToolsPanel
    from studio.state import StudioState

    panel = ToolsPanel(StudioState())
    qtbot.addWidget(panel)
    text = panel._summary({"tool": "score", "scores": np.zeros(3), "method": "bits/dim", "reference": None,
                           "reference_note": "the run's data cannot be loaded again, so there is no held-out reference"})
    assert text == ("3 images scored by bits/dim. The run's data cannot be loaded again, so there is no held-out "
                    "reference.")
    assert panel._summary({"tool": "score", "scores": np.zeros(3), "method": "bits/dim",
                           "reference": None}) == "3 images scored by bits/dim."


def test_opening_a_past_run_reads_its_history_off_the_gui_thread(qtbot, monkeypatch, tmp_path):
    """Open parsed the run's metrics.jsonl (tens of thousands of rows) on the GUI thread."""
    import threading

    from studio.docks import runs as runs_module
    from studio.state import StudioState

    from .test_runs_panel import _train_past_run
    from .helpers import write_blob_folder

    run = _train_past_run(write_blob_folder(tmp_path / "blobs", n=8), steps=2)
    threads = []
    real = runs_module.read_history
    monkeypatch.setattr(runs_module, "read_history",
                        lambda path: threads.append(threading.current_thread()) or real(path))
    state = StudioState()
    panel = runs_module.RunsPanel(state)
    qtbot.addWidget(panel)
    assert panel.select(run)
    with qtbot.waitSignal(state.run_opened, timeout=30_000):
        assert panel.open_selected()
        assert not panel.open_selected()          # one read at a time: a second click waits for the first
    assert threads and threads[0] is not threading.main_thread() and len(threads) == 1
    assert state.run_dir == run
    panel.shutdown()


def test_a_latent_end_point_refuses_seeds_out_of_range_in_one_line(qtbot):
    """"²" (a digit int() cannot read) raised ValueError in the slot; a seed past 2^63 reached the model's
    thread and came back as "ValueError: Overflow when unpacking long long"."""
    from studio.docks.latent import LatentPanel
    from studio.state import StudioState

    from .helpers import Listener

    panel = LatentPanel(StudioState())
    qtbot.addWidget(panel)
    end = panel.endpoints["A"]
    heard = Listener(end.changed)
    for text in ("²", "99999999999999999999999999", "-5"):
        end.edit.setText(text)
        end._from_text()
        assert panel.status.text() == f"End point A: a seed is a whole number from 0 to 2^63-1, not {text}."
    assert heard.heard == []
    end.edit.setText(" 42 ")
    end._from_text()
    assert heard.heard == [("A", ("seed", 42))]
    panel.shutdown()


def test_translate_names_each_skipped_file_with_its_own_reason(qtbot):
    """"skipped 2 files (not an image file)" was said of a text file and a damaged PNG alike."""
    import numpy as np

    from studio.docks.translate import TranslatePanel
    from studio.state import StudioState

    panel = TranslatePanel(StudioState())
    qtbot.addWidget(panel)
    images = np.zeros((1, 8, 8, 3), np.uint8)
    panel._on_translated({"sources": images, "results": images, "names": ["a.png"],
                          "skipped": [("/x/notes.txt", "not an image file"),
                                      ("/x/bad.png", "corrupt or unsupported PNG file")]})
    assert panel.status.text() == ("Translated 1 image (each beside its translation); skipped 2 files: "
                                   "notes.txt (not an image file); bad.png (corrupt or unsupported PNG file).")
    panel.shutdown()


def test_how_the_labels_came_out_is_in_sight_under_the_summary(qtbot, window, tmp_path):
    """Two plain folders became two classes with the note only in the Preview tab."""
    from .helpers import write_blob_folder

    write_blob_folder(tmp_path / "a", n=4, classes=1)
    write_blob_folder(tmp_path / "b", n=4, classes=1)
    state = window.state
    with qtbot.waitSignal(state.dataset_changed, timeout=30_000):
        (tmp_path / "b" / "c0").rename(tmp_path / "b" / "pears")
        state.load([str(tmp_path / "a" / "c0"), str(tmp_path / "b" / "pears")], size=16)
    text = window.panels["dataset"].summary.text()
    assert text.startswith(state.dataset.summary()) and "2 classes" in text
    assert "\nNote: each folder given became one class" in text


def test_an_export_named_like_a_file_over_a_folder_is_refused_without_asking_to_replace_it(tmp_path):
    """Exporting to x.png where x.png is a folder asked "replace it?" and then, on Yes, refused anyway."""
    import numpy as np

    from studio.dialogs import export_checked

    (tmp_path / "x.png").mkdir()
    asked = []
    out, message = export_checked(np.zeros((2, 8, 8, 3), np.uint8), tmp_path / "x.png",
                                  lambda path: asked.append(path) or True)
    assert out is None and asked == [] and message.startswith("Export failed: ") and "is a folder" in message
    (tmp_path / "frames").mkdir()   # a folder of frames is still replaced only after asking
    out, message = export_checked(np.zeros((2, 8, 8, 3), np.uint8), tmp_path / "frames", lambda path: False)
    assert out is None and message == "Export cancelled; nothing was overwritten."


def test_the_tools_panel_refuses_to_synthesize_into_a_folder_of_someones_images(qtbot, tmp_path):
    """The Tools panel's synthesize wrote into any folder; it only asked when a manifest.json was there."""
    from PIL import Image

    from studio.docks.tools import TOOLS, ToolsPanel
    from studio.state import StudioState

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("L", (8, 8)).save(photos / "mine.png")
    panel = ToolsPanel(StudioState())
    qtbot.addWidget(panel)
    started = []
    panel.service.run_tool = lambda *args: started.append(args)
    panel.info = {"family": "dcgan"}
    panel.tool_box.setCurrentIndex(TOOLS.index("synthesize"))
    panel.out_folder.setText(str(photos))
    panel.run_tool()
    assert not started and [p.name for p in photos.iterdir()] == ["mine.png"]
    assert panel.status.text().startswith("Nothing written: ") and "pick an empty or new folder" in panel.status.text()
    panel.out_folder.setText(str(tmp_path / "new"))
    panel.run_tool()
    assert len(started) == 1


def test_the_export_dialog_enlarges_no_further_than_the_command_line(qtbot, tmp_path):
    """The dialog offered 1-64× while `sample --scale` stopped at 32."""
    from engines.export import MAX_SCALE, ExportOptions
    from studio.export_dialog import ExportDialog

    dialog = ExportDialog(None, "Export", tmp_path / "x.png", "PNG (*.png)", ExportOptions())
    qtbot.addWidget(dialog)
    assert (dialog.scale.minimum(), dialog.scale.maximum()) == (1, MAX_SCALE)
