"""The one training loop, its events, checkpoints and run folders."""

from . import run_features  # noqa: E402,F401  (style features from a run: the service engines.style asks for)
