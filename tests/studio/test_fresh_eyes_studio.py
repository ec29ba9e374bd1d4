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
