"""CycleGAN in the studio: the second image set is dropped on its own target, Start says why it is
off until then, the run trains with translation grids, and the Translate panel translates and exports."""

import numpy as np
import pytest
from PIL import Image

from .helpers import load_into
from .test_dataset_panel import drop

pytestmark = pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")


def _rgb_folder(folder, n=12, size=16):
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(100, 255, (size, size, 3), np.uint8)).save(folder / f"b{i}.png")
    return folder


def test_cyclegan_from_the_studio(qtbot, window, blob_folder, tmp_path):
    state = window.state
    load_into(qtbot, window, blob_folder)
    model = window.panels["model"]
    model.family_box.setCurrentIndex(model.family_box.findData("cyclegan"))
    dataset = window.panels["dataset"]
    targets = dataset.inputs.targets
    assert list(targets) == ["b"] and dataset.inputs.isVisibleTo(window)
    why = state.can_start()
    assert why and "needs input 'b'" in why and not state.actions.start.isEnabled()
    assert "needs input 'b'" in state.actions.start.toolTip()

    b = _rgb_folder(tmp_path / "B")
    assert drop(targets["b"], [b])
    assert state.input_paths == {"b": [str(b)]}
    qtbot.waitUntil(lambda: "12 images" in targets["b"].status.text(), timeout=10_000)
    assert state.can_start() is None and state.actions.start.isEnabled()

    form, settings = model.family_form, model.settings_form
    form.editor("width").setValue(4)
    form.editor("d_width").setValue(4)
    form.editor("blocks").setValue(1)
    settings.editor("steps").setValue(4)
    settings.editor("batch_size").setValue(2)
    settings.editor("sample_every").setValue(2)
    settings.editor("n_samples").setValue(8)
    settings.editor("checkpoint_every").setValue(0)
    with qtbot.waitSignal(state.finished, timeout=60_000) as done:
        state.actions.start.trigger()
    assert done.args[0].reason == "completed"
    # the explorer panels follow the finished run and open it themselves: let those opens finish before
    # the test opens it again, so no earlier `loaded` reaches a signal blocker the test has left
    for explorer in [p for p in window.panels.values() if hasattr(p, "service")]:
        qtbot.waitUntil(lambda p=explorer: p.service.pending == 0, timeout=30_000)
    gallery = window.panels["gallery"]
    assert gallery.latest is not None and gallery.latest.images.shape[0] == 8  # A, A->B, B, B->A rows
    assert gallery.grid_view.column_names == ["A", "A→B", "B", "B→A"]        # headed columns
    assert "fixed noise" not in gallery.caption.text() and "2 rows of fixed images" in gallery.caption.text()

    # the other explorer panels say why they are off for a translator
    sampler = window.panels["sampler"]
    with qtbot.waitSignal(sampler.service.loaded, timeout=30_000):
        sampler.open_run(state.run_dir)
    assert not sampler.sample_button.isEnabled() and "use Translate" in sampler.status.text()

    panel = window.panels["translate"]
    with qtbot.waitSignal(panel.service.loaded, timeout=30_000):
        panel.chooser.open_run(state.run_dir, None)
    assert [panel.direction.itemData(i) for i in range(panel.direction.count())] == ["a2b", "b2a"]
    assert not panel.translate_button.isEnabled()  # no images yet
    assert drop(panel, [blob_folder / "c0"])
    assert panel.translate_button.isEnabled()
    with qtbot.waitSignal(panel.service.translated, timeout=30_000) as got:
        panel.translate_button.click()
    results = got.args[0]["results"]
    assert results.shape == (16, 16, 16, 3)  # grey blobs (A) -> RGB (B)
    out = tmp_path / "exported"
    written = panel.export(str(out))
    assert len(written) == 16 and all(p.suffix == ".png" and p.exists() for p in written)
    np.testing.assert_array_equal(np.asarray(Image.open(written[0])), results[0])
    panel.confirm_replace = lambda folder: False  # asked before replacing: says no, nothing written
    assert panel.export(str(out)) == []
