"""ONNX and torch.export files of the image-making network match PyTorch at two batch sizes."""

import json

import numpy as np
import pytest
import torch

from engines import registry
from engines.config import replace_checked
from engines.export import ExportError
from engines.families.base import DataSpec
from engines.network_export import export_onnx, export_pt2, image_network, plain_copy, run_onnx

from .family_cases import SMALL_CONFIG

# one family per kind; the conditional ones check the labels input; sagan has spectral norm in G
SMALLER = {"ddpm": {"channel_mults": "1", "num_res_blocks": 1}, "glow": {"levels": 1}}  # export cost grows with layers
KINDS = [("sagan", 0), ("cgan", 3), ("ae", 0), ("cvae", 3), ("realnvp", 0), ("glow", 0), ("ddpm", 3), ("pixelcnn", 0)]


def _engine(name, classes):
    family = registry.get(name)
    config = replace_checked(registry.default_config(name, 16), **{**SMALL_CONFIG.get(name, {}), **SMALLER.get(name, {})})
    torch.manual_seed(0)
    return family.engine_class(config, DataSpec(16, 1, classes, tuple(f"c{i}" for i in range(classes))),
                               torch.device("cpu"))


def _inputs(net, batch, seed):
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, example in net.inputs.items():
        if example.dtype == torch.int64:
            high = int(example.max()) + 1
            out[name] = torch.randint(0, max(high, 2), (batch,), generator=gen)
        else:
            out[name] = torch.randn((batch, *example.shape[1:]), generator=gen) * 0.5
    return out


@pytest.mark.parametrize("name, classes", KINDS)
def test_exported_files_match_pytorch(tmp_path, name, classes):
    engine = _engine(name, classes)
    net = image_network(engine)
    assert ("labels" in net.inputs) == (classes > 0)
    pt2 = export_pt2(net, tmp_path / "net.pt2")
    program = torch.export.load(str(pt2))
    pytest.importorskip("onnxruntime")
    onnx_path = export_onnx(net, tmp_path / "net.onnx")
    for batch, seed in ((1, 1), (5, 2)):
        inputs = _inputs(net, batch, seed)
        with torch.no_grad():
            want = net.module(*inputs.values()).numpy()
            got_pt2 = program.module()(*inputs.values()).numpy()
        got_onnx = run_onnx(onnx_path, {k: v.numpy() for k, v in inputs.items()})
        assert got_onnx.shape == want.shape and want.shape[0] == batch
        np.testing.assert_allclose(got_pt2, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got_onnx, want, rtol=1e-4, atol=1e-4)
    import onnx
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(onnx_path)).metadata_props}
    assert meta["output"] == net.output and set(meta["inputs"]) == set(net.inputs)


def test_the_exported_gan_generator_is_what_the_engine_samples_with(tmp_path):
    engine = _engine("sagan", 0)
    net = image_network(engine)
    z = engine.random_latents(4, seed=3)
    with torch.no_grad():
        ours = engine.render(z).numpy()
    got = torch.export.load(str(export_pt2(net, tmp_path / "g.pt2"))).module()(z).numpy()
    np.testing.assert_allclose(got, ours, atol=1e-5)
    # spectral norm is baked into plain weights: no parametrisation is left in the file's network
    from torch.nn.utils import parametrize
    assert any(parametrize.is_parametrized(m) for m in engine.G.modules())
    assert not any(parametrize.is_parametrized(m) for m in plain_copy(engine.G).modules())
    with torch.no_grad():  # and the run's own generator still works as before
        np.testing.assert_array_equal(engine.render(z).numpy(), ours)


def test_a_family_that_cannot_be_exported_says_which_can():
    with pytest.raises(ExportError, match="these can: .*sngan.*vae.*glow.*ddpm"):
        image_network(_engine("ebm", 0))


def test_cli_exports_a_trained_run_by_file_extension(tmp_path, capsys, monkeypatch):
    from engines.cli import main
    from engines.train.restore import load_engine
    from tests.helpers import train_tiny_run

    run = train_tiny_run(tmp_path)
    engine, _ = load_engine(run)
    z = engine.random_latents(3, seed=5)
    with torch.no_grad():
        want = engine.render(z).numpy()
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "g.pt2")]) == 0
    assert "inputs z ('B', 8) float32 -> images" in capsys.readouterr().out
    np.testing.assert_allclose(torch.export.load(str(tmp_path / "g.pt2")).module()(z).numpy(), want, atol=1e-5)
    extra = {"genstudio.json": ""}
    torch.export.load(str(tmp_path / "g.pt2"), extra_files=extra)
    meta = json.loads(extra["genstudio.json"])
    assert meta["inputs"] == {"z": [8]} and meta["output"] == "images" and meta["range"] == [-1, 1]
    assert main(["export", str(run), "--out", str(tmp_path / "g.pt2")]) == 2  # no silent overwrite
    assert main(["export", str(run), "--out", str(tmp_path / "g.tflite")]) == 2
    assert ".onnx or .pt2" in capsys.readouterr().err
    import engines.cli.export_model as cli_export
    monkeypatch.setattr(cli_export, "onnx_available", lambda: False)
    assert main(["export", str(run), "--out", str(tmp_path / "g.onnx")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'genstudio[onnx]'" in err and len(err.strip().splitlines()) == 1
    monkeypatch.undo()
    pytest.importorskip("onnxruntime")
    assert main(["export", str(run), "--out", str(tmp_path / "g.onnx")]) == 0
    np.testing.assert_allclose(run_onnx(tmp_path / "g.onnx", {"z": z.numpy()}), want, atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_onnx_export_keeps_the_exporters_torchvision_warnings_off_the_terminal():
    """Without torchvision, torch's ONNX exporter logged 'torchvision is not installed. Skipping
    torchvision::nms' (four lines) on every `genstudio export --out FILE.onnx`."""
    import logging

    from engines.network_export import _exporter_logs_quiet
    from torch.onnx._internal.exporter import _registration

    log = logging.getLogger(_registration.__name__)
    assert log is _registration.logger and log.isEnabledFor(logging.WARNING)
    with _exporter_logs_quiet():
        assert not log.isEnabledFor(logging.WARNING) and log.isEnabledFor(logging.ERROR)
    assert log.isEnabledFor(logging.WARNING)
