"""A folder full of everything people really drop: exact usable count, every bad file explained."""

import io
import os
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from engines.data import load_images

RNG = np.random.default_rng(0)


def noise(w, h, mode="RGB"):
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    return Image.fromarray(RNG.integers(0, 255, shape, dtype=np.uint8), mode)


def png_bytes(img):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return bytearray(buf.getvalue())


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(ctype)))


def bomb_png(width, height) -> bytes:
    """A valid PNG header claiming width x height, with a few bytes of data: decoding would need GBs."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def with_bad_idat_crc(data: bytearray) -> bytes:
    i = data.find(b"IDAT")
    length = struct.unpack(">I", data[i - 4:i])[0]
    data[i + 4 + length] ^= 0xFF
    return bytes(data)


def with_bad_ihdr_crc(data: bytearray) -> bytes:
    i = data.find(b"IHDR")
    data[i + 4 + 13] ^= 0xFF
    return bytes(data)


def rotated_jpeg(path):
    img = Image.new("L", (40, 20), 0)
    img.paste(255, (20, 0, 40, 20))       # right half white
    exif = Image.Exif()
    exif[0x0112] = 6                       # display rotated 90 degrees clockwise
    img.save(path, "JPEG", exif=exif.tobytes(), quality=95)


def build_hostile(root):
    """Returns (folder, number of usable images, {file name: words its reason must contain})."""
    drop = root / "drop"
    cats, dogs = drop / "cats", drop / "dogs"
    (dogs / "sub").mkdir(parents=True)
    cats.mkdir()
    (cats / ".thumbs").mkdir()
    # usable: 5 cats, 8 dogs
    noise(30, 20).save(cats / "good1.jpg")
    noise(20, 30).save(cats / "good2.png")
    rotated_jpeg(cats / "rotated.jpg")
    Image.new("CMYK", (24, 24), (0, 255, 255, 0)).save(cats / "cmyk.jpg")
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(cats / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    Image.fromarray(np.full((20, 20), 30000, np.uint16)).save(dogs / "grey16.png")
    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([10, 200, 10] + [0] * 765)
    pal.save(dogs / "palette.png", transparency=0)
    Image.new("RGBA", (20, 20), (255, 0, 0, 128)).save(dogs / "rgba.png")
    Image.new("LA", (20, 20), (50, 200)).save(dogs / "la.png")
    noise(20, 20).save(dogs / "sub" / "deep.png")
    noise(20, 20).save(dogs / "bitmap.bmp")
    noise(20, 20).save(dogs / "photo.webp")
    noise(20, 20).save(dogs / "scan.tif")
    (dogs / "no_extension").write_bytes(bytes(png_bytes(noise(20, 20))))
    usable = 14
    # unusable, with the words their reason must contain
    full = io.BytesIO()
    noise(64, 64).save(full, "JPEG")
    (cats / "truncated.jpg").write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    (cats / "eps.jpg").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    (cats / "huge.png").write_bytes(bomb_png(100_000, 100_000))        # over Pillow's own error limit
    (cats / "big.png").write_bytes(bomb_png(10_000, 10_000))           # over ours, under Pillow's error
    (cats / "notes.png").write_text("these are my notes, not a picture")
    (cats / "empty.png").write_bytes(b"")
    (cats / "badcrc.png").write_bytes(with_bad_idat_crc(png_bytes(noise(16, 16))))
    (cats / "badihdr.png").write_bytes(with_bad_ihdr_crc(png_bytes(noise(16, 16))))
    (cats / "doc.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n")
    (cats / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    noise(16, 16).save(cats / ".thumbs" / "t.png")
    os.symlink(drop, cats / "loop")                       # a loop back to the top
    os.symlink(cats / "missing.png", dogs / "dangling.png")
    os.symlink(cats / "good1.jpg", dogs / "alias.jpg")    # same file twice
    os.symlink("selfloop.png", dogs / "selfloop.png")
    os.mkfifo(dogs / "pipe.png")                          # opening it for reading would hang
    reasons = {
        "truncated.jpg": "truncated", "eps.jpg": "EPS", "huge.png": "too many pixels",
        "big.png": "too many pixels", "notes.png": "not an image", "empty.png": "empty",
        "badcrc.png": "checksum", "badihdr.png": "unsupported PNG file", "doc.pdf": "PDF", ".DS_Store": "hidden",
        ".thumbs": "hidden folder", "loop": "already scanned", "dangling.png": "broken link",
        "alias.jpg": "same file", "selfloop.png": "broken link", "pipe.png": "not a regular file",
    }
    if os.geteuid() != 0:   # root reads through chmod 000, so the case only means something otherwise
        noise(16, 16).save(dogs / "locked.png")
        os.chmod(dogs / "locked.png", 0)
        reasons["locked.png"] = "permission denied"
    return drop, usable, reasons


@pytest.fixture
def hostile(tmp_path):
    return build_hostile(tmp_path)


def test_hostile_folder_keeps_every_usable_image_and_explains_every_skip(hostile, tmp_path):
    drop, usable, reasons = hostile
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_images([drop], size=16, cache_dir=tmp_path / "cache", workers=2)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert len(data) == usable
    assert data.class_counts() == {"cats": 5, "dogs": 9}
    assert data.channels == 3 and data.images.shape == (usable, 16, 16, 3)
    by_name = {os.path.basename(s.path): s.reason for s in data.skipped}
    assert set(by_name) == set(reasons), sorted(set(by_name) ^ set(reasons))
    for name, words in reasons.items():
        assert words.lower() in by_name[name].lower(), (name, by_name[name])
    used = {os.path.basename(p) for p in data.paths}
    assert "deep.png" in used and "no_extension" in used and not used & set(reasons)


def test_bomb_headers_are_refused_without_decoding(tmp_path):
    (tmp_path / "huge.png").write_bytes(bomb_png(60_000, 60_000))   # 3.6 Gpixel: would need 10 GB
    Image.new("RGB", (20, 20), "red").save(tmp_path / "ok.png")
    data = load_images([tmp_path], size=16, use_cache=False, max_pixels=50_000_000)
    assert len(data) == 1
    assert "too many pixels" in data.skipped[0].reason


def test_max_pixels_limit_is_the_callers(tmp_path):
    Image.new("RGB", (200, 100), "red").save(tmp_path / "wide.png")
    Image.new("RGB", (50, 50), "red").save(tmp_path / "small.png")
    data = load_images([tmp_path], size=16, use_cache=False, max_pixels=10_000)
    assert [os.path.basename(p) for p in data.paths] == ["small.png"]
    assert "200×100" in data.skipped[0].reason


def test_nothing_usable_is_one_clear_error(tmp_path):
    from engines.data import DataError
    (tmp_path / "a.png").write_text("nope")
    (tmp_path / "b.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"no usable images .*2 files skipped"):
        load_images([tmp_path], size=16, use_cache=False)
    empty = load_images([tmp_path], size=16, use_cache=False, allow_empty=True)
    assert len(empty) == 0 and len(empty.skipped) == 2
