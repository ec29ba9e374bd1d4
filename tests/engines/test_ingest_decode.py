"""What the pixels look like after preprocessing: modes, orientation, fit, background, channels."""

import numpy as np
import pytest
from PIL import Image

from engines.data import DataError, load_images
from tests.engines.test_ingest_hostile import rotated_jpeg


def one(path, **kw):
    kw.setdefault("size", 16)
    data = load_images([path], use_cache=False, **kw)
    assert len(data) == 1, data.skipped
    return data.images[0].astype(int)


def test_exif_orientation_is_applied(tmp_path):
    rotated_jpeg(tmp_path / "r.jpg")            # stored 40x20, left black, right white; EXIF says 90° cw
    img = one(tmp_path / "r.jpg", fit="stretch", channels=1)[..., 0]
    assert img[:6].mean() < 40 and img[-6:].mean() > 215   # after rotating, the black half is on top


def test_broken_exif_keeps_the_image(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 99                            # nonsense orientation
    Image.new("RGB", (20, 20), (0, 200, 0)).save(tmp_path / "e.jpg", exif=exif.tobytes())
    assert one(tmp_path / "e.jpg")[8, 8, 1] > 180


def test_16_bit_grey_is_rescaled_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 32).astype(np.uint16), (32, 1))
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    img = one(tmp_path / "g16.png", size=32, fit="stretch")
    assert img.shape == (32, 32, 1)               # auto channels: grey stays grey
    row = img[16, :, 0]
    assert row[0] <= 2 and row[-1] >= 253 and np.all(np.diff(row) >= 0)
    assert 110 < row[16] < 145                    # the middle of the 16-bit range is mid-grey, not 255


def test_float_tiff_is_rescaled(tmp_path):
    ramp = np.tile(np.linspace(-1.0, 3.0, 32, dtype=np.float32), (32, 1))
    Image.fromarray(ramp, "F").save(tmp_path / "f.tif")
    row = one(tmp_path / "f.tif", size=32, fit="stretch")[16, :, 0]
    assert row[0] <= 2 and row[-1] >= 253 and np.all(np.diff(row) >= 0)


@pytest.mark.parametrize("background, expected", [((255, 255, 255), 255), ("#000000", 0), ((0, 0, 255), None)])
def test_transparency_is_composited_on_the_chosen_background(tmp_path, background, expected):
    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([10, 200, 10, 200, 10, 10] + [0] * 762)
    pal.paste(1, (0, 0, 10, 20))                  # left half opaque red, right half transparent
    pal.save(tmp_path / "p.png", transparency=0)
    img = one(tmp_path / "p.png", fit="stretch", channels=3, background=background)
    assert tuple(img[8, 2]) == (200, 10, 10)
    if expected is None:
        assert tuple(img[8, 13]) == (0, 0, 255)
    else:
        assert tuple(img[8, 13]) == (expected,) * 3


def test_half_transparent_rgba_blends_with_background(tmp_path):
    Image.new("RGBA", (16, 16), (255, 0, 0, 128)).save(tmp_path / "a.png")
    r, g, b = one(tmp_path / "a.png", background=(0, 0, 0))[4, 4]
    assert 120 < r < 136 and g == 0 and b == 0


def test_cmyk_is_converted(tmp_path):
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    r, g, b = one(tmp_path / "c.jpg")[8, 8]
    assert r > 200 and g < 60 and b < 60


def test_animated_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50)
    r, g, b = one(tmp_path / "a.gif", channels=3)[8, 8]
    assert r > 200 and b < 50


def _bar(tmp_path):
    img = Image.new("RGB", (64, 32), (0, 0, 0))
    img.paste((255, 255, 255), (16, 0, 48, 32))   # white middle square, black sides
    img.save(tmp_path / "wide.png")
    return tmp_path / "wide.png"


def test_fit_center_crop_keeps_the_middle(tmp_path):
    img = one(_bar(tmp_path), fit="center-crop", channels=1)
    assert img.min() > 200


def test_fit_pad_keeps_everything_and_fills_with_background(tmp_path):
    img = one(_bar(tmp_path), fit="pad", channels=3, background=(0, 255, 0))
    assert tuple(img[0, 8]) == (0, 255, 0) and tuple(img[15, 8]) == (0, 255, 0)   # bands above/below
    assert img[8, 0].max() < 30 and img[8, 8].min() > 220                        # black side, white middle


def test_fit_stretch_squashes(tmp_path):
    img = one(_bar(tmp_path), fit="stretch", channels=1)[..., 0]
    assert img[8, 0] < 30 and img[8, 8] > 220 and img[8, 15] < 30


def test_auto_channels_pick_rgb_when_any_image_has_colour(tmp_path):
    Image.new("L", (20, 20), 100).save(tmp_path / "g.png")
    assert load_images([tmp_path], size=16, use_cache=False).channels == 1
    Image.new("RGB", (20, 20), (1, 2, 3)).save(tmp_path / "c.jpg")
    assert load_images([tmp_path], size=16, use_cache=False).channels == 3


@pytest.mark.parametrize("kw, message", [
    ({"size": 8}, "size must be between 16 and 256"), ({"size": 300}, "size must be between"),
    ({"fit": "zoom"}, "fit must be one of"), ({"channels": 2}, "channels must be"),
    ({"background": "#12"}, "background must be"), ({"background": (1, 2, 300)}, "background must be"),
])
def test_bad_settings_are_person_errors(tmp_path, kw, message):
    Image.new("L", (20, 20), 100).save(tmp_path / "g.png")
    with pytest.raises(DataError, match=message):
        load_images([tmp_path], use_cache=False, **kw)


def test_missing_source_is_a_person_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_images([tmp_path / "nope"], size=16)
