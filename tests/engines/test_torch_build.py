"""Help > About says which PyTorch build runs and why setup chose it (engines.runtime.torch_build)."""

import json

import torch

from engines.runtime.torch_build import describe, setup_record


def test_without_a_setup_record_about_still_names_the_build_and_device(tmp_path):
    assert setup_record(str(tmp_path)) == {}
    rows = describe(str(tmp_path))
    assert rows["PyTorch build"].startswith(torch.__version__) and rows["Device"]
    assert "Chosen by setup" not in rows


def test_a_cpu_fallback_reason_reaches_about(tmp_path):
    (tmp_path / "genstudio-torch.json").write_text(json.dumps({
        "backend": "cpu", "pinned": "2.13.0", "version": torch.__version__,
        "reason": "Tesla K80: driver 470.82.01 is older than 560.28, which the oldest CUDA build (cu126) needs"}))
    rows = describe(str(tmp_path))
    assert rows["Chosen by setup"].startswith("cpu: Tesla K80: driver 470.82.01 is older")
    if not torch.cuda.is_available():
        assert rows["Device"].startswith("CPU (Tesla K80: driver 470.82.01")


def test_a_damaged_record_is_ignored(tmp_path):
    (tmp_path / "genstudio-torch.json").write_text("{not json")
    assert setup_record(str(tmp_path)) == {} and describe(str(tmp_path))["Device"]
