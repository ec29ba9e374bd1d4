"""scripts/setup.sh picks the PyTorch build for the machine (detection faked both ways) and records it.

The setup runs in dry-run mode on a copy of the scripts: it prints the install commands it would run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CPU = ("torch==2.13.0+cpu", "--index-url https://download.pytorch.org/whl/cpu")
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="setup.sh is the Linux/macOS setup")


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    for name in ("scripts/setup.sh", "scripts/torch_backend.py", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    venv_bin = root / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    python = venv_bin / "python"  # the test's own interpreter stands in for the checkout's environment
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return root


def setup(root: Path, tmp_path: Path, driver: str | None = None, **env) -> subprocess.CompletedProcess:
    fake = tmp_path / "fakebin"
    fake.mkdir(exist_ok=True)
    smi = fake / "nvidia-smi"
    smi.unlink(missing_ok=True)
    if driver is not None:
        smi.write_text(f'#!/bin/sh\necho "{driver}, NVIDIA Test GPU"\n')
        smi.chmod(0o755)
    path = os.pathsep.join([str(fake)] + [p for p in os.environ["PATH"].split(os.pathsep)
                                          if not (Path(p) / "nvidia-smi").exists()])
    full = {**os.environ, "PATH": path, "GENSTUDIO_SETUP_DRY_RUN": "1", "GENSTUDIO_USE_UV": "0", **env}
    full.pop("GENSTUDIO_TORCH_BACKEND", None) if "GENSTUDIO_TORCH_BACKEND" not in env else None
    return subprocess.run(["bash", str(root / "scripts/setup.sh")], capture_output=True, text=True, env=full,
                          timeout=120)


def installs(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("+ ") and " install " in line]


def test_no_gpu_takes_the_cpu_build(checkout, tmp_path):
    r = setup(checkout, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "cpu build: no NVIDIA GPU found" in r.stdout
    (cmd,) = installs(r.stdout)
    assert any(c in cmd for c in CPU) and "cu12" not in cmd


def test_a_recent_driver_takes_the_matching_cuda_build_and_replaces_the_cpu_one(checkout, tmp_path):
    r = setup(checkout, tmp_path, driver="570.86.15")
    assert r.returncode == 0, r.stderr
    assert "cu128 build: NVIDIA Test GPU with driver 570.86.15" in r.stdout
    (cmd,) = installs(r.stdout)
    assert "--index-url https://download.pytorch.org/whl/cu128" in cmd
    assert "--force-reinstall" in cmd  # the environment holds the CPU build today


def test_a_driver_too_old_for_every_cuda_build_falls_back_to_cpu_and_says_why(checkout, tmp_path):
    r = setup(checkout, tmp_path, driver="470.82.01")
    assert r.returncode == 0, r.stderr
    assert "cpu build: NVIDIA Test GPU: driver 470.82.01 is older than" in r.stdout
    (cmd,) = installs(r.stdout)
    assert any(c in cmd for c in CPU)


def test_the_override_wins_over_detection(checkout, tmp_path):
    r = setup(checkout, tmp_path, driver="570.86.15", GENSTUDIO_TORCH_BACKEND="cpu")
    assert "cpu build: asked for" in r.stdout
    r = setup(checkout, tmp_path, GENSTUDIO_TORCH_BACKEND="cu126")
    assert "--index-url https://download.pytorch.org/whl/cu126" in installs(r.stdout)[0]
    r = setup(checkout, tmp_path, GENSTUDIO_TORCH_BACKEND="gpu please")
    assert r.returncode != 0 and "GENSTUDIO_TORCH_BACKEND='gpu please' is not one of" in r.stderr


def test_a_matching_record_installs_nothing_and_a_changed_backend_installs_again(checkout, tmp_path):
    record = checkout / ".venv" / "genstudio-torch.json"
    record.write_text(json.dumps({"pinned": "2.13.0", "backend": "cpu"}))
    r = setup(checkout, tmp_path)
    assert r.returncode == 0, r.stderr
    assert installs(r.stdout) == [] and "PyTorch" not in r.stdout
    r = setup(checkout, tmp_path, driver="580.95.05")  # a GPU appeared (or a new driver): the record is stale
    assert "--index-url https://download.pytorch.org/whl/cu130" in installs(r.stdout)[0]
    r = setup(checkout, tmp_path, GENSTUDIO_TORCH="2.14.1")  # a new pin installs again too
    assert "torch==2.14.1" in installs(r.stdout)[0]


def test_the_record_names_the_build_and_the_cpu_fallback(tmp_path, monkeypatch, capsys):
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("torch_backend", ROOT / "scripts/torch_backend.py")
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    choice = {"backend": "cu128", "index": "x", "gpu": "G", "driver": "570.1", "reason": "r", "asked": "auto"}
    monkeypatch.setenv("TORCH_CHOICE", json.dumps(choice))
    monkeypatch.setenv("TORCH_PIN", "2.13.0")
    out = tmp_path / "torch.json"
    backend.record(str(out))
    info = json.loads(out.read_text())
    assert info["version"] == torch.__version__ and info["backend"] == "cu128" and info["pinned"] == "2.13.0"
    if not torch.cuda.is_available():  # the CUDA build on a machine where it cannot start: said, and the CPU runs
        assert "running on the CPU" in info["fallback"] and "running on the CPU" in capsys.readouterr().out
