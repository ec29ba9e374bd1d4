"""The stop signal of long computations (sampling, inversion, projection, style transfer), at the bottom
of the layers so every layer can raise and catch it: a progress callback raises Cancelled to stop."""

from __future__ import annotations

from typing import Callable

ProgressFn = Callable[[int, int], None]


class Cancelled(Exception):
    """Raised by a progress callback to stop a long computation (sampling, inversion, projection)."""
