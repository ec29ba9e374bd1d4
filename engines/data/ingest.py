"""Turn folders and files into an ImageDataset: scan, label, decode, preprocess.

First cut for the backbone; the ingestion issue hardens it (content sniffing, bombs, cache).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps

from .dataset import ImageDataset, Skipped

FIT_MODES = ("center-crop", "pad", "stretch")


class DataError(ValueError):
    """The data cannot be used at all (nothing usable, missing folder). Meant for a person."""


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _label_plan(sources: Sequence[Path]) -> list[tuple[Path, str | None]]:
    """(file, class name or None) for every candidate file, using the subfolder rules."""
    folders = [s for s in sources if s.is_dir()]
    files = [s for s in sources if s.is_file()]
    plan: list[tuple[Path, str | None]] = [(f, None) for f in files]
    flat = [f for f in folders if not any(p.is_dir() and not p.name.startswith(".") for p in f.iterdir())]
    every_folder_is_a_class = len(folders) > 1 and len(flat) == len(folders)
    for folder in folders:
        for path in _walk(folder):
            rel = path.relative_to(folder)
            if every_folder_is_a_class:
                label = folder.name
            elif len(rel.parts) > 1:
                label = rel.parts[0]
            else:
                label = None
            plan.append((path, label))
    return plan


def to_array(img: Image.Image, size: int, channels: int, fit: str,
             background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Decoded Pillow image -> uint8 (size, size, channels) after the fit mode."""
    if img.mode in ("P", "PA", "LA", "RGBA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        img = Image.alpha_composite(canvas, rgba).convert("RGB")
    elif img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    img = img.convert("L" if channels == 1 else "RGB")
    if fit == "center-crop":
        img = ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR)
    elif fit == "pad":
        fill = background[0] if channels == 1 else background
        img = ImageOps.pad(img, (size, size), Image.Resampling.BILINEAR, color=fill)
    else:
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def load_images(sources: Sequence[str | os.PathLike], size: int = 32, channels: int | None = None,
                fit: str = "center-crop", background: tuple[int, int, int] = (255, 255, 255),
                progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> ImageDataset:
    """Load every usable image under `sources`. channels=None picks grey when every image is grey."""
    if fit not in FIT_MODES:
        raise DataError(f"fit must be one of {', '.join(FIT_MODES)}")
    if not 8 <= size <= 256:
        raise DataError("size must be between 8 and 256 pixels")
    paths = [Path(s).expanduser() for s in sources]
    for p in paths:
        if not p.exists():
            raise DataError(f"{p} does not exist")
    plan = _label_plan(paths)
    decoded: list[tuple[Image.Image, str | None, str]] = []
    skipped: list[Skipped] = []
    for i, (path, label) in enumerate(plan):
        if cancelled is not None and cancelled():
            raise DataError("loading was cancelled")
        try:
            with Image.open(path) as im:
                im.load()
                im = ImageOps.exif_transpose(im)
                decoded.append((im.copy(), label, str(path)))
        except Exception as exc:  # noqa: BLE001 - any decode failure is a skip with a reason
            skipped.append(Skipped(str(path), f"not a readable image ({type(exc).__name__})"))
        if progress is not None:
            progress(i + 1, len(plan))
    if not decoded:
        where = ", ".join(str(p) for p in paths)
        raise DataError(f"no usable images in {where}" + (f" ({len(skipped)} files skipped)" if skipped else ""))
    if channels is None:
        channels = 1 if all(im.mode in ("1", "L", "I;16", "I", "LA") for im, _, _ in decoded) else 3
    names = sorted({lbl for _, lbl, _ in decoded if lbl is not None})
    index = {n: i for i, n in enumerate(names)}
    images = np.stack([to_array(im, size, channels, fit, background) for im, _, _ in decoded])
    labels = np.array([index.get(lbl, 0) if lbl is not None else 0 for _, lbl, _ in decoded], dtype=np.int64)
    if names and any(lbl is None for _, lbl, _ in decoded):
        # Loose files next to class folders: keep them, but the data is then treated as unlabelled.
        names, labels = [], np.zeros(len(decoded), dtype=np.int64)
    return ImageDataset(images, labels, names, [p for _, _, p in decoded], skipped,
                        [str(p) for p in paths])
