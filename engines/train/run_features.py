"""The run service of engines.style.features: style transfer can take its features from a trained run
or an exported model, which only this layer can load (the features sit below it)."""

from __future__ import annotations

from pathlib import Path

from ..style import features
from .checkpoint import CheckpointError
from .model_file import _HEADER_KEY
from .restore import load_engine
from .run import RunError


class _Runs:
    def load(self, path):
        try:
            return load_engine(path)
        except (RunError, CheckpointError) as exc:
            raise features.FeatureError(f"features from run {Path(path).name}: {exc}") from None

    def is_model_file(self, path: Path) -> bool:
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as fh:
                return _HEADER_KEY in (fh.metadata() or {})
        except Exception:  # noqa: BLE001 - unreadable: VGG19Features.from_file says why
            return False


features.set_run_service(_Runs())
