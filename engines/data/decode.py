"""One file -> one preprocessed uint8 array, or a `Skip` with a reason a person can read.

This is the one door for every image a person hands in: datasets (`decode`), the tools' inputs and
masks, latent end points, style content and style images and files dropped on the studio's panels
(`load_image`). Only raster formats whose Pillow decoders are self-contained are ever opened, chosen
by content, never by the file's name (never EPS, which runs Ghostscript). File size and pixel counts
are checked from the file system and the header before any pixel data is decoded. Pillow's own
decompression-bomb check stays on: its warning is turned into a refusal here, for this call only,
and never silenced for the process.
"""

from __future__ import annotations

import os
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass

from typing import NamedTuple

import stat as _stat

import numpy as np
from PIL import Image, ImageOps


ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
DEFAULT_MAX_PIXELS = 80_000_000   # a 48 MP phone photo fits; Pillow's own warning starts at ~89 MP
DEFAULT_MAX_BYTES = 512 * 2**20  # an 80 MP 16-bit RGB TIFF (480 MB) fits
FIT_MODES = ("center-crop", "pad", "stretch")

GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_WIDE_GREY = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_CONVERTIBLE = frozenset({"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}) | _ALPHA_MODES | _WIDE_GREY

# Formats we recognise only to name them in the skip report; none of them is ever handed to Pillow.
_OTHER_MAGIC = (
    (b"%!PS", "PostScript/EPS"), (b"\xc5\xd0\xd3\xc6", "EPS"), (b"%PDF", "PDF"), (b"8BPS", "Photoshop PSD"),
    (b"\x00\x00\x01\x00", "ICO"), (b"<svg", "SVG"), (b"<?xml", "XML/SVG"), (b"qoif", "QOI"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
)
# Signatures of the formats we do read: a file that starts like one but fails to open is corrupt.
_OWN_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
              (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
_FTYP_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}


class Skip(Exception):
    """This file is not used; str(exc) is the reason shown to the person."""


class Refused(ValueError):
    """An image a person handed in that is not opened: str(exc) is one line, `reason` the why alone."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


# Pillow warns (between its limit and twice it) or raises (beyond) on huge images as it reads the
# header. The warning is made an error only inside Image.open, under a lock because
# warnings.catch_warnings changes process-wide state for its duration (ingestion opens from threads).
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Settings:
    size: int
    channels: int                      # 1 or 3 (auto is resolved before decoding)
    fit: str = "center-crop"
    background: tuple[int, int, int] = (255, 255, 255)
    max_pixels: int = DEFAULT_MAX_PIXELS


class Header(NamedTuple):  # a tuple: thousands are made per load
    """What the header says, read without decoding pixels; width and height as the image is shown
    (EXIF orientation applied: a portrait photo stored sideways is taller than wide)."""
    format: str
    mode: str
    width: int
    height: int

    @property
    def grey(self) -> bool:
        return self.mode in GREY_MODES


def _own_format(prefix: bytes) -> str | None:
    if prefix[:4] == b"RIFF" and prefix[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _OWN_MAGIC if prefix.startswith(magic)), None)


def _png_chunks_intact(path: str) -> str | None:
    """The name of the first PNG chunk whose CRC does not match (Pillow skips the IDAT checks)."""
    with open(path, "rb") as fh:
        fh.seek(8)
        while True:
            head = fh.read(8)
            if len(head) < 8:
                return None          # a missing IEND shows up as truncation when decoding
            length, ctype = struct.unpack(">I4s", head)
            body = fh.read(length)
            crc = fh.read(4)
            if len(body) < length or len(crc) < 4:
                return None
            if zlib.crc32(body, zlib.crc32(ctype)) != struct.unpack(">I", crc)[0]:
                return ctype.decode("latin-1")
            if ctype == b"IEND":
                return None


def _name_unsupported(prefix: bytes) -> str | None:
    for magic, name in _OTHER_MAGIC:
        if prefix.startswith(magic):
            return name
    if prefix[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(prefix[8:12], "ISO media (HEIC/AVIF/video)")
    return None


def _open_checked(path: str, formats: tuple[str, ...] = ALLOWED_FORMATS) -> Image.Image:
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(path, formats=formats)


def open_image(path: str, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES,
               formats: tuple[str, ...] = ALLOWED_FORMATS) -> Image.Image:
    """Open lazily (header only), refusing empty, oversized and special files, other formats and
    images with too many pixels. `formats`: some of ALLOWED_FORMATS (a run's own grids: PNG only)."""
    if not set(formats) <= set(ALLOWED_FORMATS):
        raise ValueError(f"formats must be some of {ALLOWED_FORMATS}")
    path = os.fspath(path)
    try:
        # non-blocking: a named pipe given as an image must not hang the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not _stat.S_ISREG(st.st_mode):
                raise Skip("not a regular file")
            if st.st_size > max_bytes:
                raise Skip(f"file too large ({st.st_size / 2**20:.0f} MB; limit {max_bytes / 2**20:.0f} MB)")
            prefix = fh.read(16)
    except FileNotFoundError:
        raise Skip("does not exist") from None
    except PermissionError:
        raise Skip("unreadable (permission denied)") from None
    except IsADirectoryError:
        raise Skip("not a file") from None
    except OSError as exc:
        raise Skip(f"unreadable ({exc.strerror or type(exc).__name__})") from None
    if not prefix:
        raise Skip("empty file")
    try:
        # Pillow's own bomb check refuses before we see the size when it is over its limit.
        im = _open_checked(path, tuple(formats))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Skip("too many pixels (possible decompression bomb)") from None
    except Image.UnidentifiedImageError:
        own = _own_format(prefix)
        if own and own.upper() not in formats:
            raise Skip(f"a {own} file where {' or '.join(formats)} is expected") from None
        if own:
            raise Skip(f"corrupt or unsupported {own} file (header unreadable)") from None
        other = _name_unsupported(prefix)
        raise Skip(f"unsupported format ({other})" if other else "not an image (content not recognised)") from None
    except PermissionError:
        raise Skip("unreadable (permission denied)") from None
    except Exception as exc:  # noqa: BLE001 - a malformed header is a skip, never a crash
        raise Skip(f"corrupt image header ({_short(exc)})") from None
    w, h = im.size
    if w <= 0 or h <= 0:
        im.close()
        raise Skip("corrupt image header (zero size)")
    if w * h > max_pixels:
        im.close()
        raise Skip(f"too many pixels ({w}×{h} = {w * h / 1e6:.0f} MP; limit {max_pixels / 1e6:.0f} MP)")
    if im.mode not in _CONVERTIBLE:
        mode = im.mode
        im.close()
        raise Skip(f"unsupported image mode {mode}")
    return im


def read_header(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Header:
    with open_image(path, max_pixels) as im:
        return _header(im, _orientation(im))


def _header(im: Image.Image, orientation: int) -> Header:
    """The header with the size as shown: orientations 5-8 turn the image a quarter, swapping its sides."""
    w, h = (im.height, im.width) if orientation in (5, 6, 7, 8) else (im.width, im.height)
    return Header(im.format or "?", im.mode, w, h)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1..8), 1 when absent or unreadable: broken EXIF must never cost an image."""
    try:
        value = im.getexif().get(0x0112, 1)
        return int(value) if 1 <= int(value) <= 8 else 1
    except Exception:  # noqa: BLE001
        return 1


_TRANSPOSE = {2: [Image.Transpose.FLIP_LEFT_RIGHT], 3: [Image.Transpose.ROTATE_180],
              4: [Image.Transpose.FLIP_TOP_BOTTOM], 5: [Image.Transpose.TRANSPOSE],
              6: [Image.Transpose.ROTATE_270], 7: [Image.Transpose.TRANSVERSE],
              8: [Image.Transpose.ROTATE_90]}


def _wide_grey_to_l(im: Image.Image) -> Image.Image:
    """16/32-bit or float grey -> 8-bit by rescaling the value range, never by clipping.

    Done with Pillow's point() (C, 4 bytes a pixel) rather than numpy float64 copies, so a large
    16-bit scan does not cost gigabytes per worker.
    """
    if im.mode.startswith("I;16"):
        im, lo, hi = im.convert("I"), 0, 65535          # the full 16-bit range onto the 8-bit range
    else:
        lo, hi = im.getextrema()
        if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
            lo, hi = 0.0, 1.0
        elif im.mode == "I" and lo >= 0 and hi <= 65535:
            lo, hi = (0, 255) if hi <= 255 else (0, 65535)
    if not hi > lo:                                      # flat (or NaN) image
        return Image.new("L", im.size, 0)
    scale = 255.0 / (hi - lo)
    return im.point(lambda v: v * scale - lo * scale).convert("L")


def _normalise_mode(im: Image.Image, channels: int, background: tuple[int, int, int]) -> Image.Image:
    """Any supported mode -> "L" or "RGB", transparency composited over `background`."""
    if im.mode in _WIDE_GREY:
        im = _wide_grey_to_l(im)
    has_alpha = im.mode in _ALPHA_MODES or (im.mode in ("P", "L", "RGB") and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, tuple(background) + (255,))
        im = Image.alpha_composite(canvas, rgba).convert("RGB")
    target = "L" if channels == 1 else "RGB"
    if im.mode == target:
        return im
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")       # CMYK, YCbCr, LAB, HSV, P, 1 go through RGB first
    return im.convert(target)


def _fit(im: Image.Image, s: int, fit: str, background: tuple[int, int, int]) -> Image.Image:
    w, h = im.size
    bilinear = Image.Resampling.BILINEAR
    if fit == "stretch":
        return im.resize((s, s), bilinear, reducing_gap=3.0)
    if fit == "center-crop":
        side = min(w, h)
        left, top = (w - side) / 2, (h - side) / 2
        # Resizing straight from the crop box avoids copying the cropped region first.
        return im.resize((s, s), bilinear, box=(left, top, left + side, top + side), reducing_gap=3.0)
    scale = s / max(w, h)
    inner = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = im.resize(inner, bilinear, reducing_gap=3.0)
    fill = background[0] if im.mode == "L" else tuple(background)
    canvas = Image.new(im.mode, (s, s), fill)
    canvas.paste(small, ((s - inner[0]) // 2, (s - inner[1]) // 2))
    return canvas


def _load_pixels(im: Image.Image, path: str) -> None:
    """Decode the first frame's pixels (PNG checksums checked first); raises Skip."""
    if im.format == "PNG":
        bad_chunk = _png_chunks_intact(path)
        if bad_chunk:
            raise Skip(f"corrupt image data (PNG checksum mismatch in {bad_chunk} chunk)")
    try:
        im.seek(0)             # animated images: the first frame
        im.load()
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise Skip("truncated image data") from None
        raise Skip(f"corrupt image data ({_short(exc)})") from None
    except Image.DecompressionBombError:
        raise Skip("too many pixels (possible decompression bomb)") from None
    except MemoryError:
        raise Skip("not enough memory to decode") from None
    except Exception as exc:  # noqa: BLE001 - SyntaxError (bad CRC), ValueError, EOFError, zlib...
        raise Skip(f"corrupt image data ({_short(exc)})") from None


def _shown(path) -> str:
    text = os.fspath(path)
    return text if text.isprintable() else ascii(text)


def load_image(path: str | os.PathLike, what: str = "", *, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_bytes: int = DEFAULT_MAX_BYTES, draft: int | None = None,
               error: type[Exception] = Refused, formats: tuple[str, ...] = ALLOWED_FORMATS) -> Image.Image:
    """The one safe opener for an image a person hands in (outside datasets): the first frame,
    decoded, upright (EXIF orientation applied), detached from the file. The same format
    allow-list, size and pixel limits and reasons as ingestion. `draft`: a JPEG may be decoded at
    a reduced scale of at least 2 x draft pixels a side; `formats`: fewer than the allow-list (a
    run's own sample grids are PNG only). Raises `error` ("<what> <path>: <reason>";
    Refused by default, whose `reason` is the why alone)."""
    try:
        im = open_image(os.fspath(path), max_pixels, max_bytes, formats)
        try:
            if draft and im.format == "JPEG" and im.mode in ("RGB", "L", "CMYK"):
                im.draft(None, (2 * draft, 2 * draft))
            _load_pixels(im, os.fspath(path))
            try:
                out = ImageOps.exif_transpose(im)
            except Exception:  # noqa: BLE001 - broken EXIF: keep the image as stored
                out = im
            out = out.copy() if out is im else out
        finally:
            im.close()
    except Skip as exc:
        message = f"{what + ' ' if what else ''}{_shown(path)}: {exc}"
        if error is Refused:
            raise Refused(message, str(exc)) from None
        raise error(message) from None
    return out


def decode(path: str, settings: Settings) -> tuple[np.ndarray, Header]:
    """Decode and preprocess one file into uint8 (size, size, channels). Raises Skip."""
    im = open_image(path, settings.max_pixels)
    try:
        orientation = _orientation(im)
        header = _header(im, orientation)
        if im.format == "JPEG" and im.mode in ("RGB", "L", "CMYK"):
            # Let libjpeg scale by 1/2..1/8 while decoding; keep >= 2x the target for a clean resize.
            want = "L" if settings.channels == 1 and im.mode == "RGB" else None
            im.draft(want, (2 * settings.size, 2 * settings.size))
        _load_pixels(im, path)
        try:
            out = _normalise_mode(im, settings.channels, settings.background)
            out = _fit(out, settings.size, settings.fit, settings.background)
            # Orientation commutes with a square fit, so it is applied to the small result.
            for op in _TRANSPOSE.get(orientation, ()):
                out = out.transpose(op)
            arr = np.asarray(out, dtype=np.uint8)
        except Skip:
            raise
        except Exception as exc:  # noqa: BLE001
            raise Skip(f"could not convert ({_short(exc)})") from None
    finally:
        im.close()
    return (arr[..., None] if arr.ndim == 2 else arr), header


def to_array(img: Image.Image, size: int, channels: int, fit: str,
             background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """An already-decoded Pillow image -> uint8 (size, size, channels) (EXIF orientation applied)."""
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - broken EXIF: keep the image as stored
        pass
    arr = np.asarray(_fit(_normalise_mode(img, channels, background), size, fit, background), dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr
