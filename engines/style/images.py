"""Reading content and style images whole (not squared like training data), with the same safety as
ingestion: only self-contained Pillow decoders, pixel counts checked from the header, EXIF
orientation applied, transparency over white. Failures are `Skip` with a reason for a person."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..data.decode import DEFAULT_MAX_PIXELS, Skip, _normalise_mode, _short, open_image
from ..data.scan import scan

__all__ = ["Skip", "read_image", "content_files"]


def read_image(path: str | os.PathLike, max_side: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """uint8 (H, W, 3). With `max_side`, images larger than twice that are shrunk while decoding
    (JPEG draft) and then to at most 2 x max_side, so a 48 MP photo does not cost a gigabyte."""
    im = open_image(os.fspath(path), max_pixels)
    try:
        if max_side and im.format == "JPEG" and im.mode in ("RGB", "L", "CMYK"):
            im.draft(None, (2 * max_side, 2 * max_side))
        try:
            im.seek(0)
            im.load()
        except OSError as exc:
            raise Skip("truncated image data" if "truncated" in str(exc).lower()
                       else f"corrupt image data ({_short(exc)})") from None
        except MemoryError:
            raise Skip("not enough memory to decode") from None
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a skip, never a crash
            raise Skip(f"corrupt image data ({_short(exc)})") from None
        try:
            try:
                out = ImageOps.exif_transpose(im)
            except Exception:  # noqa: BLE001 - broken EXIF: keep the image as stored
                out = im
            out = _normalise_mode(out, 3, (255, 255, 255))
            if max_side and max(out.size) > 2 * max_side:
                out.thumbnail((2 * max_side, 2 * max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
            arr = np.asarray(out, dtype=np.uint8)
        except Exception as exc:  # noqa: BLE001
            raise Skip(f"could not convert ({_short(exc)})") from None
    finally:
        im.close()
    return np.ascontiguousarray(arr)


def content_files(source: str | os.PathLike) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """([(file, name relative to the source)], [(path, reason skipped)]) for a file or a folder."""
    root = Path(source).expanduser()
    if root.is_file():
        return [(root, Path(root.name))], []
    found = scan([root])
    files = [(Path(c.path), Path(c.path).relative_to(root)) for c in found.candidates]
    return files, [(s.path, s.reason) for s in found.skipped]
