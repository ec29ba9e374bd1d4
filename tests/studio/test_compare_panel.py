"""Compare panel: runs chosen in the Runs panel side by side, measured in the background."""

from engines.data import load_images
from engines.families.gan import DCGANConfig
from engines.families.vae import VAEConfig
from engines.train.loop import Trainer, TrainSettings
from engines.workspace import new_run_dir


def _past_run(blob_folder, family, config, **settings):
    data = load_images([str(blob_folder)], size=16, channels=1)
    s = TrainSettings(**{"steps": 6, "batch_size": 8, "log_every": 1, "sample_every": 3, "n_samples": 9,
                         "checkpoint_every": 0, "device": "cpu", **settings})
    out = new_run_dir(None, family)
    list(Trainer.new(family, config, s, data, out).run())
    return out


def test_selected_runs_are_compared_and_measured_off_the_gui_thread(qtbot, window, blob_folder):
    gan = _past_run(blob_folder, "dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8))
    vae = _past_run(blob_folder, "vae", VAEConfig(latent_dim=4, width=4), validate_every=2)
    runs = window.panels["runs"]
    runs.refresh()
    assert not runs.compare_button.isEnabled()
    for i in range(runs.tree.topLevelItemCount()):
        runs.tree.topLevelItem(i).setSelected(True)
    assert runs.compare_button.isEnabled() and not runs.open_button.isEnabled()  # open takes one run
    compare = window.panels["compare"]
    with qtbot.waitSignal(window.state.compare_requested):
        runs.compare_button.click()
    assert compare.table.columnCount() == 2  # one column per run
    assert compare.cell(vae.name, "Family") == "vae" and compare.cell(gan.name, "Steps") == "6"
    assert compare.cell(gan.name, "bits_per_dim (best)") == "–" != compare.cell(vae.name, "bits_per_dim (best)")
    assert compare.measure_box.currentText() == "val/bits_per_dim" and compare.drawn_curves() == 1
    assert "not logged" in compare.legend.text()  # the GAN has no likelihood to draw
    compare.axis_box.setCurrentText("training time (s)")
    assert compare.drawn_curves() == 1

    compare.n_box.setValue(32)
    compare.measure_button.click()
    assert compare.measuring and not compare.measure_button.isEnabled()
    qtbot.waitUntil(lambda: not compare.measuring and compare.measure_button.isEnabled(), timeout=120_000)
    for run in (gan, vae):
        assert float(compare.cell(run.name, "ms / image")) > 0
        assert compare.cell(run.name, "Fréchet ↓") != "–"          # the blobs have two class folders
        assert compare.cell(run.name, "Classes covered").endswith("/2")
    assert "measured 2 of 2" in compare.status.text() and "classifier" in compare.status.text()


def test_a_run_that_cannot_be_read_is_reported_not_fatal(qtbot, window, blob_folder):
    gan = _past_run(blob_folder, "dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8))
    messages = []
    window.state.message.connect(lambda level, text, details: messages.append(text))
    (gan.parent / "gone").mkdir()
    window.state.compare_requested.emit([gan, gan.parent / "gone"])
    compare = window.panels["compare"]
    assert compare.table.columnCount() == 1 and "cannot be compared" in messages[-1]
    # the measurement of a run whose checkpoints vanished fails with a message; the panel stays usable
    for p in (gan / "checkpoints").iterdir():
        p.unlink()
    compare.measure()
    # the thread may end before the first check, its queued "failed" not yet delivered: wait for that
    qtbot.waitUntil(lambda: any("Cannot measure" in m for m in messages), timeout=60_000)
    qtbot.waitUntil(lambda: not compare.measuring and compare.measure_button.isEnabled())


def test_the_runs_panel_exports_a_model_file_and_never_overwrites_silently(qtbot, window, blob_folder, tmp_path):
    from engines.train.restore import load_engine

    gan = _past_run(blob_folder, "dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8))
    runs = window.panels["runs"]
    runs.refresh()
    assert not runs.export_button.isEnabled()
    assert runs.select(gan) and runs.export_button.isEnabled()
    messages = []
    window.state.notice.connect(lambda level, text, details, topic: messages.append(text))

    def export(target):
        """Start an export and wait for it to end; the file written, or None."""
        with qtbot.waitSignal(runs.export_done, timeout=60_000) as ended:
            runs.export_model(gan, target)
        return ended.args[0]

    with qtbot.waitSignal(runs.export_done, timeout=60_000) as ended:
        assert runs.export_model(gan, tmp_path / "digits") == tmp_path / "digits.safetensors"  # suffix added
        assert not runs.export_button.isEnabled() and "Exporting" in messages[-1]  # in the background
    out = ended.args[0]
    assert out == tmp_path / "digits.safetensors" and "Exported the model" in messages[-1]
    assert runs.export_button.isEnabled()
    engine, record = load_engine(out)
    assert record["family"] == "dcgan" and record["checkpoint_step"] == 6
    before = out.read_bytes()
    runs.confirm_overwrite = lambda path: False
    assert export(out) is None and "nothing was overwritten" in messages[-1]
    assert out.read_bytes() == before
    assert export(tmp_path / "missing" / "m.safetensors") is None
    assert messages[-1].endswith(f"the folder {tmp_path / 'missing'} does not exist") and ".tmp" not in messages[-1]
    # the dialog offers the name the person typed, not the run's default name, next time
    assert runs.suggested_export(gan) == tmp_path / "missing" / "m.safetensors"
    # The banner: the next export's outcome replaces the failure, and "Exported" replaces "Exporting".
    assert export(tmp_path / "again.safetensors") == tmp_path / "again.safetensors"
    banner = window.message_bar.texts()
    assert [t for t in banner if "export" in t.lower()] == [messages[-1]] and "Exported" in messages[-1]
    for p in (gan / "checkpoints").iterdir():
        p.unlink()
    assert export(tmp_path / "other.safetensors") is None
    assert "Cannot export" in messages[-1] and not (tmp_path / "other.safetensors").exists()


def test_the_table_follows_a_compared_run_when_training_ends(qtbot, window, blob_folder):
    import json

    gan = _past_run(blob_folder, "dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8))
    record = json.loads((gan / "run.json").read_text())
    (gan / "run.json").write_text(json.dumps(dict(record, status="running")))
    window.state.compare_requested.emit([gan])
    compare = window.panels["compare"]
    assert compare.cell(gan.name, "Status") == "running"
    (gan / "run.json").write_text(json.dumps(record))  # what the trainer writes when it stops
    window.state.run_ended.emit()
    assert compare.cell(gan.name, "Status") == record["status"] != "running"


def test_quality_over_training_time_nearest_images_and_exports(qtbot, window, blob_folder, tmp_path):
    import csv

    gan = _past_run(blob_folder, "dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8),
                    checkpoint_every=2, keep_checkpoints=5)
    from engines.families.ae import AEConfig
    ae = _past_run(blob_folder, "ae", AEConfig(latent_dim=4, width=4), checkpoint_every=3, keep_checkpoints=5)
    window.state.compare_requested.emit([gan, ae])
    compare = window.panels["compare"]
    assert not compare.nearest_run.count()
    compare.n_box.setValue(16)
    assert compare.over_time_box.isChecked()
    compare.measure_button.click()
    qtbot.waitUntil(lambda: not compare.measuring, timeout=180_000)
    # one point per kept checkpoint, at that checkpoint's training time, oldest first
    gan_points, ae_points = compare.quality_points(gan), compare.quality_points(ae)
    assert len(gan_points) == 3 and len(ae_points) == 2
    assert [t for t, _ in gan_points] == sorted(t for t, _ in gan_points) and gan_points[0][0] > 0
    assert compare.quality_plot.listDataItems() and len(compare.quality_plot.listDataItems()) == 2
    compare.quality_box.setCurrentText("coverage ↑")
    assert all(0 <= v <= 1 for _, v in compare.quality_points(gan, "coverage"))
    # the table shows every measure
    for header in ("KID ↓", "Precision ↑", "Recall ↑", "Density", "Coverage ↑", "Memorised"):
        assert compare.cell(gan.name, header) != "–"
    # samples beside their nearest training images
    assert compare.nearest_run.count() == 2 and not compare.nearest_view.pixmap().isNull()
    compare.nearest_run.setCurrentIndex(1)
    assert "memorised" in compare.nearest_view.toolTip()
    # exports
    rows = list(csv.reader(open(compare.export_csv(tmp_path / "t.csv"), encoding="utf-8")))
    assert rows[0][0] == "Run" and "KID ↓" in rows[0] and {r[1] for r in rows[1:]} == {"dcgan", "ae"}
    from PIL import Image
    png = compare.export_png(tmp_path / "chart.png")
    assert Image.open(png).size[0] > 50
    messages = []
    window.state.message.connect(lambda level, text, details: messages.append(text))
    compare._export(compare.export_csv, str(tmp_path / "missing" / "t.csv"))
    assert "Cannot save" in messages[-1]


def test_the_runs_panel_exports_the_network_as_onnx_and_pt2(qtbot, window, blob_folder, tmp_path):
    import numpy as np
    import pytest
    import torch

    from engines.train.restore import load_engine

    gan = _past_run(blob_folder, "dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8))
    runs = window.panels["runs"]
    runs.refresh()
    engine, _ = load_engine(gan)
    z = engine.random_latents(2, seed=1)
    with torch.no_grad():
        want = engine.render(z).numpy()
    with qtbot.waitSignal(runs.export_done, timeout=120_000) as ended:
        runs.export_model(gan, tmp_path / "g.pt2")
    assert ended.args[0] == tmp_path / "g.pt2"
    np.testing.assert_allclose(torch.export.load(str(tmp_path / "g.pt2")).module()(z).numpy(), want, atol=1e-5)
    pytest.importorskip("onnxruntime")
    from engines.network_export import run_onnx
    with qtbot.waitSignal(runs.export_done, timeout=120_000) as ended:
        runs.export_model(gan, tmp_path / "g.onnx")
    assert ended.args[0] == tmp_path / "g.onnx"
    np.testing.assert_allclose(run_onnx(tmp_path / "g.onnx", {"z": z.numpy()}), want, atol=1e-4)


def test_the_table_lines_runs_up_at_equal_steps_and_equal_time(qtbot, window, blob_folder):
    short = _past_run(blob_folder, "dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8))
    long = _past_run(blob_folder, "dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8), steps=12)
    window.state.compare_requested.emit([short, long])
    compare = window.panels["compare"]
    assert (compare.cell(short.name, "Steps"), compare.cell(long.name, "Steps")) == ("6", "12")
    compare.line_up_box.setCurrentText("equal steps")
    assert (compare.cell(short.name, "Steps"), compare.cell(long.name, "Steps")) == ("6", "6")
    compare.line_up_box.setCurrentText("equal training time")
    # no run is shown past the time at which the first of them stopped logging (which of the two that is
    # depends on the machine: these runs take a tenth of a second; a run that logged no row by then is
    # shown as at its start)
    first_end = min(max(float(c[:, 1].max()) for c in f.curves.values()) for f in compare.facts)
    for f in compare.lined_up():
        assert f.train_seconds is None or f.train_seconds <= first_end + 1e-9
    assert int(compare.cell(long.name, "Steps")) <= 12


def test_the_compare_panel_fits_its_dock_at_1280x720_without_scrolling_sideways(qtbot, laptop_window):
    """Its rows (table moment, measure, plot, quality) were cut sideways behind a scroll bar: they wrap."""
    window = laptop_window
    window.show_panel("compare")
    panel = window.panels["compare"]
    qtbot.waitUntil(panel.isVisible)
    scroll = window.docks["compare"].widget()
    qtbot.waitUntil(lambda: scroll.horizontalScrollBar().maximum() == 0, timeout=3_000)
