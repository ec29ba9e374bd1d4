"""What every tool shares: reading input images the way the run reads its data, writing results
without overwriting, choosing a method from the family's capabilities, image maths (PSNR, resizing).

A tool is a list of `Method`s tried in order; the first whose `applies(engine_class)` holds does
the work and its `name` is reported to the person (CLI output, studio label). A family none of them
fits gets one sentence naming the families that can (`cannot_do`).
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..families import capabilities
from ..families.base import Cancelled

ProgressFn = Callable[[int, int], None]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ToolError(ValueError):
    """A tool cannot do what was asked (wrong family, bad mask, nothing to read): one line for a person."""


@dataclass(frozen=True)
class Method:
    name: str                                   # what the person is told ("RePaint (DDIM, 2 resamples)")
    applies: Callable[[type], bool]             # engine class -> can this method run on it (by capabilities)
    run: Callable | None = None                 # the pipeline that does it


def engine_class(engine) -> type:
    return engine if isinstance(engine, type) else type(engine)


def choose(methods: Sequence[Method], engine, tool: str) -> Method:
    """The first method that applies to this engine's family; a ToolError naming the families that can otherwise."""
    cls = engine_class(engine)
    for m in methods:
        if m.applies(cls):
            return m
    raise ToolError(cannot_do(cls.family, tool, methods))


def families_that_can(methods: Sequence[Method]) -> list[str]:
    from .. import registry

    out = []
    for name in registry.names():
        try:
            cls = registry.get(name).engine_class
        except Exception:  # noqa: BLE001 - a broken family is simply not listed
            continue
        if any(m.applies(cls) for m in methods):
            out.append(name)
    return out


def cannot_do(family: str, tool: str, methods: Sequence[Method]) -> str:
    can = families_that_can(methods)
    return f"a {family} run cannot {tool}; families that can: {', '.join(can) or 'none'}"


def role(name: str) -> Callable[[type], bool]:
    """`applies` for a method built on one capability or role."""
    return lambda cls: capabilities.has(cls, name)


@contextlib.contextmanager
def evaluating(engine):
    """Every module of the engine in eval mode (dropout off) for the duration; the modes as they were after."""
    modes = [(m, m.training) for m in engine.modules().values()]
    for m, _ in modes:
        m.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.train(mode)


# --- the run's own data -------------------------------------------------------------------------------

def run_split(record: dict, engine):
    """(train, held_out, held_out_is_real_split, reason) of the run's data, re-made as training made
    it (same sources, preprocessing, val_fraction and seed); (None, None, False, why) when the data
    cannot be had (an exported model file carries none, or the folders moved). Families that keep
    no held-out split get a tenth held out here (said by the flag: the model trained on them)."""
    from ..data import DataError
    from ..train.loop import engine_overrides_validate
    from ..train.run_data import load_run_data

    data = record.get("data") or {}
    sources = data.get("sources") or []
    if record.get("model_file") or not sources:
        return None, None, False, "an exported model file carries no data"
    try:
        dataset = load_run_data(record)
    except (DataError, KeyError, ValueError) as exc:
        return None, None, False, f"the run's data cannot be loaded again ({exc})"
    settings = record.get("settings") or {}
    fraction = float(settings.get("val_fraction", 0.1))
    real = engine_overrides_validate(engine) and fraction > 0 and len(dataset) >= 2
    if len(dataset) < 2:
        return dataset, dataset.subset(np.zeros(0, np.int64)), False, "the run's data has one image"
    train, held = dataset.split(fraction if real else 0.1, seed=int(settings.get("seed", 0)))
    return train, held, real, ""


def few_held_out(n: int, need: int, what: str) -> str:
    """The one caution for a figure taken from too few held-out images ('' when `n` >= `need`):
    `what` needs at least `need` of them (score's threshold, a self-check's verdict)."""
    if n >= need:
        return ""
    return f"only {n} held-out image{'s' if n != 1 else ''}: {what} needs at least {need}, so read this one as rough"


# --- reading inputs ----------------------------------------------------------------------------------

@dataclass
class Inputs:
    """Images read for a tool: uint8 (N, H, W, C), each with the relative path it keeps in the output."""
    images: np.ndarray
    names: list[str]                      # relative paths as given (used for the output names)
    paths: list[str]                      # full source paths
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def __len__(self) -> int:
        return len(self.names)


def list_image_files(sources: Sequence[str | os.PathLike]) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """(file, relative name) for every image under the sources (folders are walked, sorted), and skips."""
    found: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    if not sources:
        raise ToolError("no images given (--images FOLDER or FILE)")
    for src in sources:
        root = Path(os.path.expanduser(os.fspath(src)))
        if not root.exists():
            raise ToolError(f"{root} does not exist")
        if root.is_file():
            found.append((root, root.name))
            continue
        if not root.is_dir():
            skipped.append((str(root), "not a regular file"))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                if fn.startswith("."):
                    continue
                p = Path(dirpath) / fn
                if p.suffix.lower() in IMAGE_SUFFIXES:
                    found.append((p, p.relative_to(root).as_posix()))
                else:
                    skipped.append((str(p), "not an image file"))
    return found, skipped


def read_images(sources: Sequence[str | os.PathLike], size: int | None, channels: int, fit: str = "center-crop",
                background=(255, 255, 255), native_max: int | None = None) -> Inputs:
    """Every readable image under `sources` as the run sees it: resized to `size` with the run's fit mode
    (size None: kept at its own size, centre-cropped square, for super-resolution; larger than
    `native_max` is skipped). Unreadable files are skipped with a reason, never fatal."""
    from ..data.decode import Refused, load_image, to_array

    files, skipped = list_image_files(sources)
    arrays, names, paths = [], [], []
    for path, name in files:
        try:
            im = load_image(path)  # the one safe opener (engines/data/decode.py)
        except Refused as exc:
            skipped.append((str(path), exc.reason))
            continue
        try:
            if size is None:
                side = min(im.size)
                if native_max is not None and side >= native_max:
                    skipped.append((str(path), f"already {side} px; the run makes {native_max} px images"))
                    continue
                arr = to_array(im, side, channels, "center-crop", background)
            else:
                arr = to_array(im, size, channels, fit, background)
        except (OSError, ValueError) as exc:
            skipped.append((str(path), f"could not convert ({type(exc).__name__})"))
            continue
        arrays.append(arr)
        names.append(name)
        paths.append(str(path))
    if size is not None:
        images = np.stack(arrays) if arrays else np.zeros((0, size, size, channels), np.uint8)
    else:
        images = arrays  # type: ignore[assignment]  # sizes may differ
    return Inputs(images, names, paths, skipped)


def output_path(root: Path, name: str, suffix: str = "") -> Path:
    """out/NAME with its extension replaced by .png (and `suffix` before it: NAME.c1.png)."""
    return root / (Path(name).with_suffix("").as_posix() + suffix + ".png")


def check_out_folder(root: Path) -> None:
    """Refuse an output folder that is a file, or lies under one, before any work is done."""
    for folder in (root, *root.parents):
        if folder.exists():
            if not folder.is_dir():
                raise ToolError(f"{folder} exists and is not a folder" if folder == root else
                                f"cannot write to {root}: {folder} is a file, not a folder")
            return


def output_paths(out: str | os.PathLike, names: Sequence[str], force: bool, suffixes: Sequence[str] = ("",)) -> list[Path]:
    """out/NAME<suffix>.png for each relative name and suffix (suffix-major); refuses to overwrite
    without force and refuses two inputs that would land on the same file."""
    from ..names import UnsafeName, inside

    root = Path(os.path.expanduser(os.fspath(out)))
    check_out_folder(root)
    paths = [output_path(root, n, sfx) for sfx in suffixes for n in names]
    try:
        for p in paths:  # outputs stay under the folder the person chose
            inside(root, p)
    except UnsafeName as exc:
        raise ToolError(str(exc)) from None
    clash = [p for p in paths if p.exists()]
    if clash and not force:
        raise ToolError(f"{clash[0]} already exists; use --force to overwrite")
    seen: set[Path] = set()
    for p in paths:
        if p in seen:
            raise ToolError(f"two inputs would both be written to {p} (same name, other extension)")
        seen.add(p)
    return paths


def write_png(image: np.ndarray, path: Path) -> None:
    from ..imaging import to_pil

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        to_pil(image).save(path, format="PNG")
    except OSError as exc:   # read-only folder, disk full: one line, not a traceback
        raise ToolError(f"cannot write {path}: {exc.strerror or exc}") from None


# --- image maths -----------------------------------------------------------------------------------

def to_float(images: np.ndarray, device="cpu") -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return (x / 127.5 - 1.0).to(device)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    from ..families.base import to_uint8 as _u8

    return _u8(x)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB between uint8 images (optionally only where mask (N, H, W) is true)."""
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2
    if mask is not None:
        m = np.broadcast_to(np.asarray(mask, bool)[..., None], d.shape)
        d = d[m]
    mse = float(d.mean()) if d.size else 0.0
    return 99.0 if mse <= 1e-12 else 10 * math.log10(255.0 ** 2 / mse)


def resize(x: torch.Tensor, size: int, mode: str = "bicubic") -> torch.Tensor:
    """(N, C, h, w) -> (N, C, size, size); antialiased when shrinking."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    shrinking = x.shape[-1] > size
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    if shrinking and mode in ("bilinear", "bicubic"):
        kwargs["antialias"] = True
    return F.interpolate(x, size=(size, size), mode=mode, **kwargs)


def consistent_with(x: torch.Tensor, low: torch.Tensor, rounds: int = 50) -> torch.Tensor:
    """Project images x in [-1, 1] (N, C, S, S) onto the images that area-downsample to `low`
    (N, C, s, s) and lie in [-1, 1], by alternating the two projections (POCS). When s divides S the
    consistency step (x - up(down(x)) + up(low), up repeating pixels) is the orthogonal projection
    onto an affine set holding the true image, as is the clamp onto the box, so no round moves x
    further from the truth: a data-consistency step any super-resolution result gains from (other
    factors: the same steps, approximately)."""
    size, small = x.shape[-1], low.shape[-1]
    if small >= size:
        return x

    def phi(v):
        return F.interpolate(F.interpolate(v, size=(small, small), mode="area"), size=(size, size), mode="nearest")

    ref = phi(F.interpolate(low.to(x.dtype), size=(size, size), mode="nearest"))
    for _ in range(max(1, int(rounds))):
        x = x.clamp(-1, 1)
        x = x - phi(x) + ref
    return x.clamp(-1, 1)


def bicubic_upscale(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 (h, w, C) -> uint8 (size, size, C), bicubic (the baseline shown beside super-resolution)."""
    from PIL import Image

    from ..imaging import to_pil

    out = np.asarray(to_pil(image).resize((size, size), Image.Resampling.BICUBIC), np.uint8)
    return out[..., None] if out.ndim == 2 else out


def check_progress(progress: ProgressFn | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


__all__ = ["ToolError", "check_out_folder", "few_held_out", "Method", "choose", "cannot_do", "families_that_can", "role", "evaluating", "Inputs",
           "read_images", "output_paths", "write_png", "psnr", "resize", "bicubic_upscale", "consistent_with",
           "Cancelled"]
