"""Which PyTorch build this environment runs, and why setup chose it (for Help > About and bug reports)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

RECORD = "genstudio-torch.json"  # written by scripts/setup.sh into the environment it set up


def setup_record(prefix: str | None = None) -> dict:
    """What scripts/setup.sh recorded for this environment, or {} (another install, a bundle, a damaged file)."""
    path = Path(prefix or sys.prefix) / RECORD
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def describe(prefix: str | None = None) -> dict[str, str]:
    """Rows for About: the build, the device training will use, and a CPU fallback's reason."""
    import torch

    info = setup_record(prefix)
    cuda = torch.cuda.is_available()
    rows = {"PyTorch build": torch.__version__ + (f" (CUDA {torch.version.cuda})" if torch.version.cuda else "")}
    if info:
        rows["Chosen by setup"] = f"{info.get('backend', '?')}: {info.get('reason', '')}".strip()
    if cuda:
        rows["Device"] = f"CUDA: {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        rows["Device"] = "Apple MPS"
    else:
        why = info.get("fallback") or (info.get("reason") if info.get("backend") == "cpu" else "")
        rows["Device"] = "CPU" + (f" ({why})" if why else "")
    return rows
