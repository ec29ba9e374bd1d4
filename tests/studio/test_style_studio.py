"""The feed-forward style family in the studio: the style image is dropped on its own target, the
run trains with preview pairs in the gallery, and the Translate panel stylises dropped images."""

import numpy as np
import pytest
from PIL import Image

from engines.style.texture import texture

from .helpers import load_into
from .test_dataset_panel import drop

pytestmark = pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")


def test_style_family_from_the_studio(qtbot, window, blob_folder, tmp_path):
    state = window.state
    load_into(qtbot, window, blob_folder)
    model = window.panels["model"]
    model.family_box.setCurrentIndex(model.family_box.findData("style"))
    targets = window.panels["dataset"].inputs.targets
    assert list(targets) == ["style"]
    assert "needs input 'style'" in (state.can_start() or "")
    Image.fromarray(texture(40, 0)).save(tmp_path / "painting.png")
    assert drop(targets["style"], [tmp_path / "painting.png"])
    qtbot.waitUntil(lambda: state.can_start() is None, timeout=10_000)

    form, settings = model.family_form, model.settings_form
    form.editor("width").setValue(4)
    form.editor("res_blocks").setValue(1)
    settings.editor("steps").setValue(4)
    settings.editor("batch_size").setValue(4)
    settings.editor("sample_every").setValue(2)
    settings.editor("n_samples").setValue(8)
    settings.editor("checkpoint_every").setValue(0)
    failures = []
    state.failed.connect(failures.append)
    with qtbot.waitSignal(state.run_ended, timeout=60_000):
        state.actions.start.trigger()
    assert not failures, failures[0].details
    pairs = window.panels["gallery"].latest.images
    assert pairs.shape[0] == 8 and pairs.shape[-1] == 3      # content, stylised, content, stylised, ...

    panel = window.panels["translate"]
    with qtbot.waitSignal(panel.service.loaded, timeout=30_000):
        panel.chooser.open_run(state.run_dir, None)
    assert [panel.direction.itemData(i) for i in range(panel.direction.count())] == ["stylise"]
    assert drop(panel, [blob_folder / "c0"])
    with qtbot.waitSignal(panel.service.translated, timeout=30_000) as got:
        panel.translate_button.click()
    results = got.args[0]["results"]
    assert results.shape[0] == 16 and results.shape[-1] == 3   # grey blobs -> RGB paintings
    assert not np.array_equal(results[..., 0], results[..., 1])
