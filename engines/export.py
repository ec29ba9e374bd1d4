"""Writing what a person made: single images, grids, strips, GIFs, MP4s and folders of frames.

Nothing is ever overwritten unless `force=True`; the studio asks first, the CLI needs --force.
`ExportOptions` is the one bundle of choices (upscale, resampling, fps, GIF loop, captions) that the
studio's export dialog and the CLI's export flags both fill in.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .imaging import make_grid, to_pil

# An output name ending in one of these is one image file (the suffix chooses the format); a name without
# a suffix is a folder. export_frames writes several frames to a still format as one strip or grid.
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
                 ".tiff": "TIFF", ".gif": "GIF"}
FORMATS = {".png": "PNG image (a strip for several frames)", ".gif": "animated GIF", ".mp4": "MP4 video",
           **{s: f"{f} image (a strip for several frames)" for s, f in IMAGE_FORMATS.items() if s not in (".png", ".gif")},
           "": "folder of PNG frames"}
_SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}
RESAMPLING = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}
MAX_SCALE = 32   # the largest whole-factor enlargement any export takes (every CLI --scale, the export dialog)


class ExportError(ValueError):
    """The export cannot be written as asked (exists, bad format, not writable). For a person."""


@dataclass(frozen=True)
class ExportOptions:
    """How frames are written, whatever asked for them (an export dialog, CLI flags)."""
    scale: int = 1               # integer upscale factor
    resample: str = "nearest"    # "nearest" keeps pixels crisp; "bilinear" smooths them
    fps: float = 12.0            # GIF and MP4 frame rate
    loop: int = 0                # GIF: how many times it plays; 0 = forever
    labels: bool = False         # caption each frame or grid tile, where the caller has captions

    def check(self) -> "ExportOptions":
        if not 1 <= self.scale <= MAX_SCALE:
            raise ExportError(f"scale must be between 1 and {MAX_SCALE}")
        if self.resample not in RESAMPLING:
            raise ExportError(f"resampling must be one of {', '.join(RESAMPLING)}")
        if not 0 < self.fps <= 120:
            raise ExportError("fps must be more than 0 and at most 120")
        if not 0 <= self.loop <= 65535:
            raise ExportError("loop must be 0 (forever) or how many times the GIF plays (up to 65535)")
        return self

    def frame_options(self, captions: Sequence[str] | None = None) -> dict:
        """Keyword arguments for export_frames; `captions` are used only when labels are switched on."""
        out = asdict(self)
        out["labels"] = list(captions) if self.labels and captions is not None else None
        return out


def names_image_file(path: str | os.PathLike) -> bool:
    """True when an output name ends in an image suffix (x.png, x.JPG, x.webp...): the person means one
    image file there, not a folder."""
    return Path(path).suffix.lower() in IMAGE_FORMATS


def check_file_target(path: Path, force: bool) -> None:
    """Refuse, before any work, an output file name that is a folder, lies under a file, or exists without force."""
    if path.is_dir():
        raise ExportError(f"{path} is a folder; an output name ending in {path.suffix} is one file "
                          f"(choose another name, or a name without a suffix for a folder)" if path.suffix else
                          f"{path} is a folder; give a file name for this output")
    if path.exists() and not force:
        raise ExportError(f"{path} already exists; choose another name, or overwrite it (--force)")
    for folder in path.parents:
        if folder.exists():
            if not folder.is_dir():
                raise ExportError(f"cannot write to {path}: {folder} is a file, not a folder")
            break


def write_image(image: np.ndarray, path: str | os.PathLike, force: bool = False) -> Path:
    """One uint8 (H, W, C) image at `path`, in the format its suffix names (IMAGE_FORMATS); missing parent
    folders are made; written atomically and readable by all; never over a folder, nor over a file
    without `force`."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise ExportError(f"unknown image format {suffix!r}; use one of {', '.join(IMAGE_FORMATS)}")
    _prepare_file(path, force)
    return _atomic(path, lambda tmp: to_pil(image).save(tmp, format=IMAGE_FORMATS[suffix],
                                                        **_SAVE_OPTIONS.get(IMAGE_FORMATS[suffix], {})))


def _prepare_file(path: Path, force: bool) -> None:
    """check_file_target, then the missing parent folders made."""
    check_file_target(path, force)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None


def _atomic(path: Path, write) -> Path:
    """`write(tmp)` into a temporary file beside `path`, then moved over it: a reader never sees half a file."""
    if not os.access(path.parent, os.W_OK):
        raise ExportError(f"cannot write to {path.parent}")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise ExportError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None
    os.fchmod(fd, 0o644)  # mkstemp makes private files; an export is meant to be shared
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - an encoder failure is reported, never a crash
        raise ExportError(f"could not write {path.name}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def still_image(frames: np.ndarray, columns: int | None = None, labels: Sequence[str] | None = None,
                scale: int = 1, resample: str = "nearest") -> np.ndarray:
    """What a still-image export of `frames` holds: the one frame, or a grid (`columns` wide, else one
    strip) without gaps, or with white gaps when each tile carries its caption."""
    frames = np.stack([upscale(f, scale, resample) for f in frames])
    if labels is not None:
        frames = captioned(frames, labels)
        if len(frames) > 1:
            return make_grid(frames, columns=columns or len(frames), fill=255)
    return frames[0] if len(frames) == 1 else make_grid(frames, columns=columns or len(frames), pad=0)


def upscale(image: np.ndarray, scale: int, resample: str = "nearest") -> np.ndarray:
    """uint8 (H, W, C) enlarged by an integer factor."""
    if scale == 1:
        return image
    if resample not in RESAMPLING:
        raise ExportError(f"resampling must be one of {', '.join(RESAMPLING)}")
    pil = to_pil(image)
    pil = pil.resize((pil.width * scale, pil.height * scale), RESAMPLING[resample])
    arr = np.asarray(pil)
    return arr[..., None] if arr.ndim == 2 else arr


CAPTION_HEIGHT = 12


def captioned(tiles: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """uint8 (N, H, W, C) -> RGB (N, H + 12, W, 3), each tile with its caption on a white band below."""
    if len(labels) != len(tiles):
        raise ExportError(f"{len(labels)} captions for {len(tiles)} frames")
    if tiles.shape[-1] == 1:
        tiles = np.repeat(tiles, 3, axis=-1)
    default = ImageFont.load_default()
    h, w = tiles.shape[1:3]
    out = np.full((len(tiles), h + CAPTION_HEIGHT, w, 3), 255, np.uint8)
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        canvas = Image.new("RGB", (w, h + CAPTION_HEIGHT), "white")
        canvas.paste(Image.fromarray(tile), (0, 0))
        font = _caption_font(str(label), default)
        ImageDraw.Draw(canvas).text((2, h), _fit(str(label), font, w - 3), fill="black", font=font)
        out[i] = np.asarray(canvas)
    return out


# Fonts tried, in order, for a caption the default font has no glyphs for (class names are folder names,
# in any script): common system fonts, found by name in the system's font folders; none is shipped.
FALLBACK_FONTS = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "Arial Unicode.ttf", "arialuni.ttf", "Arial.ttf",
                  "arial.ttf", "NotoSansCJK-Regular.ttc", "wqy-microhei.ttc")


def _missing_glyphs(font, text: str) -> bool:
    """Whether `font` draws any character of `text` as its "no glyph" box (as it draws a private-use one)."""
    try:
        box = np.asarray(font.getmask("\ue000")).tobytes()
        return any(not c.isspace() and np.asarray(font.getmask(c)).tobytes() == box for c in set(text))
    except Exception:  # noqa: BLE001 - a font that cannot say: keep it
        return False


def _caption_font(text: str, default):
    """The default font, or for a caption it lacks glyphs for (δ, ж, 中…) the first system font that has
    them all; the default again when none does (its boxes then mark the characters)."""
    if text.isascii() or not _missing_glyphs(default, text):
        return default
    for name in FALLBACK_FONTS:
        font = _load_font(name)
        if font is not None and not _missing_glyphs(font, text):
            return font
    return default


_FONTS: dict = {}


def _load_font(name: str):
    if name not in _FONTS:
        try:
            _FONTS[name] = ImageFont.truetype(name, 10)
        except OSError:
            _FONTS[name] = None
    return _FONTS[name]


def _fit(text: str, font, width: int) -> str:
    """`text` cut (with an ellipsis) to what the font draws within `width` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…" if text else ""


def labelled_grid(images: np.ndarray, labels: Sequence[str], columns: int | None = None,
                  scale: int = 1, resample: str = "nearest") -> np.ndarray:
    """A grid with a caption under each tile (RGB)."""
    tiles = np.stack([upscale(im, scale, resample) for im in images])
    return make_grid(captioned(tiles, labels), columns=columns, fill=255)


def _even(frames: np.ndarray) -> np.ndarray:
    """H.264 in yuv420p needs even sizes: pad one row/column of edge pixels where needed."""
    _, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _rgb(frames: np.ndarray) -> np.ndarray:
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


def export_frames(frames: np.ndarray, path: str | os.PathLike, fps: float = 12.0, loop: int = 0,
                  scale: int = 1, resample: str = "nearest", force: bool = False,
                  columns: int | None = None, labels: Sequence[str] | None = None) -> Path:
    """Write uint8 (N, H, W, C) frames; the suffix chooses: an image (.png, .jpg, .webp...) holds the one
    frame or a strip/grid of them, .gif and .mp4 animate them, no suffix is a folder of PNG frames.

    `loop`: how many times a GIF plays, 0 = forever. `labels`: one caption per frame, written under
    each grid tile (PNG) or under each frame (GIF, MP4, folder)."""
    path = Path(path).expanduser()
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or len(frames) == 0:
        raise ExportError("nothing to export")
    ExportOptions(scale, resample, fps, loop).check()
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"unknown format {suffix!r}; use one of {', '.join(s for s in FORMATS if s)}, "
                          f"or a folder name")
    if suffix in IMAGE_FORMATS and (suffix != ".gif" or len(frames) == 1):
        return write_image(still_image(frames, columns, labels, scale, resample), path, force)
    frames = np.stack([upscale(f, scale, resample) for f in frames])
    if labels is not None:
        frames = captioned(frames, labels)
    if suffix == "":
        return _export_folder(frames, path, force)
    _prepare_file(path, force)

    def encode(tmp: Path) -> None:
        if suffix == ".gif":
            pils = [to_pil(f).convert("RGB") if f.shape[-1] == 3 else to_pil(f) for f in frames]
            # GIF's loop field counts repeats after the first play; no field at all plays once
            repeat = {} if loop == 1 else {"loop": 0 if loop == 0 else loop - 1}
            pils[0].save(tmp, format="GIF", save_all=True, append_images=pils[1:],
                         duration=int(round(1000 / fps)), disposal=1, **repeat)
        else:
            import imageio.v3 as iio

            iio.imwrite(tmp, _even(_rgb(frames)), extension=".mp4", fps=fps, codec="libx264",
                        macro_block_size=1, pixelformat="yuv420p")
    return _atomic(path, encode)


def _export_folder(frames: np.ndarray, folder: Path, force: bool) -> Path:
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} exists and is not a folder")
    if folder.exists() and any(folder.iterdir()) and not force:
        raise ExportError(f"{folder} already exists and is not empty")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(frames):
            to_pil(f).save(folder / f"frame_{i:05d}.png", format="PNG")
    except OSError as exc:
        raise ExportError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    return folder


def read_frames(path: str | os.PathLike) -> np.ndarray:
    """Read back a GIF, MP4 or PNG as uint8 (N, H, W, C) frames (used by tests and the studio)."""
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix.lower() == ".gif":
        with Image.open(path, formats=["GIF"]) as im:
            frames = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                frames.append(np.asarray(im.convert("RGB")))
        return np.stack(frames)
    if path.suffix.lower() == ".mp4":
        return np.asarray(iio.imread(path, extension=".mp4", plugin="FFMPEG"))
    with Image.open(path, formats=["PNG"]) as im:
        arr = np.asarray(im)
    return (arr[..., None] if arr.ndim == 2 else arr)[None]


def timelapse_frames(run_dir: str | os.PathLike) -> tuple[list[int], np.ndarray]:
    """The run's sample grids in step order (every grid is from the same fixed noise)."""
    from .data.decode import load_image
    from .train.run import RunDir

    run = RunDir.open(run_dir)
    steps, frames = [], []
    for step, p in run.sample_paths():
        # a run folder may come from anyone: the one safe opener, PNG only
        im = load_image(p, "sample grid", formats=("PNG",), error=ExportError)
        if im.mode not in ("L", "RGB"):
            im = im.convert("RGB")
        arr = np.asarray(im)
        frames.append(arr[..., None] if arr.ndim == 2 else arr)
        steps.append(step)
    if not frames:
        raise ExportError(f"{run.path} has no sample grids yet")
    if len({f.shape for f in frames}) > 1:  # a network that grew, or n_samples changed: one frame size
        frames = fit_frames(frames)
    return steps, np.stack(frames)


def fit_frames(frames: list[np.ndarray], fill: int = 32) -> list[np.ndarray]:
    """Grids of different sizes as frames of one size: each enlarged by the largest whole factor that
    fits the biggest (nearest: pixels stay crisp), centred on the grid background. Channels follow the
    frame with the most."""
    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    c = max(f.shape[2] for f in frames)
    out = []
    for f in frames:
        k = max(1, min(h // f.shape[0], w // f.shape[1]))
        big = np.repeat(np.repeat(f, k, axis=0), k, axis=1)
        if big.shape[2] != c:
            big = np.repeat(big, c, axis=2)
        canvas = np.full((h, w, c), fill, np.uint8)
        y, x = (h - big.shape[0]) // 2, (w - big.shape[1]) // 2
        canvas[y:y + big.shape[0], x:x + big.shape[1]] = big
        out.append(canvas)
    return out
