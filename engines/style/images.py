"""Reading content and style images whole (not squared like training data), with the same safety as
ingestion: only self-contained Pillow decoders, pixel counts checked from the header, EXIF
orientation applied, transparency over white. Failures are `Skip` with a reason for a person."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.decode import DEFAULT_MAX_PIXELS, Refused, Skip, _normalise_mode, _short, load_image
from ..data.scan import scan

__all__ = ["Skip", "read_image", "content_files"]


def read_image(path: str | os.PathLike, max_side: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """uint8 (H, W, 3). With `max_side`, images larger than twice that are shrunk while decoding
    (JPEG draft) and then to at most 2 x max_side, so a 48 MP photo does not cost a gigabyte.
    Opened by the one safe opener (engines/data/decode.load_image); Skip(reason) when refused."""
    try:
        im = load_image(path, max_pixels=max_pixels, draft=max_side)
    except Refused as exc:
        raise Skip(exc.reason) from None
    try:
        out = _normalise_mode(im, 3, (255, 255, 255))
        if max_side and max(out.size) > 2 * max_side:
            out.thumbnail((2 * max_side, 2 * max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        arr = np.asarray(out, dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001
        raise Skip(f"could not convert ({_short(exc)})") from None
    return np.ascontiguousarray(arr)


def content_files(source: str | os.PathLike) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """([(file, name relative to the source)], [(path, reason skipped)]) for a file or a folder."""
    root = Path(source).expanduser()
    if root.is_file():
        return [(root, Path(root.name))], []
    found = scan([root])
    files = [(Path(c.path), Path(c.path).relative_to(root)) for c in found.candidates]
    return files, [(s.path, s.reason) for s in found.skipped]
