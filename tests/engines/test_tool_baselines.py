"""The non-learned baselines each tool is compared with (engines/tools/baselines.py)."""

import numpy as np
import pytest

from engines.tools import baselines as B
from engines.tools.common import ToolError, psnr


def _digitish(n=6, size=16, seed=0):
    """Bright blobs on black: smooth images the filters can help with."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(size / 3, size - size / 3, 2)
        out[i, ..., 0] = (230 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 12)).astype(np.uint8)
    return out


def test_mean_fill_uses_each_images_known_pixels_and_leaves_them_alone():
    img = np.zeros((2, 4, 4, 3), np.uint8)
    img[0] = 100
    img[1, :2] = 10
    img[1, 2:] = 250
    holes = np.zeros((4, 4), bool)
    holes[2:] = True
    out = B.mean_fill(img, holes)
    assert (out[0] == 100).all()
    assert (out[1, :2] == 10).all() and (out[1, 2:] == 10).all()     # only the known half counts
    everything = B.mean_fill(img, np.ones((4, 4), bool))
    assert (everything == 128).all()                                   # nothing known: mid-grey


def test_nearest_fill_spreads_the_border_inwards():
    img = np.zeros((1, 6, 6, 1), np.uint8)
    img[0, :, :3] = 40
    img[0, :, 3:] = 200
    holes = np.zeros((1, 6, 6), bool)
    holes[0, 2:4, 1:5] = True
    out = B.nearest_fill(img, holes)
    assert (out[0, 2:4, 1, 0] == 40).all() and (out[0, 2:4, 4, 0] == 200).all()
    assert (out[~holes] == img[~holes]).all()
    with pytest.raises(ToolError, match="mask"):
        B.nearest_fill(img, np.zeros((5, 5), bool))


def test_filters_remove_noise_and_the_best_filter_is_chosen_against_the_clean_images():
    clean = _digitish()
    rng = np.random.default_rng(1)
    noisy = np.clip(clean + rng.normal(0, 40, clean.shape), 0, 255).astype(np.uint8)
    before = psnr(noisy, clean)
    assert psnr(B.median_filter(noisy, 3), clean) > before + 2
    assert psnr(B.gaussian_filter(noisy, 1.0), clean) > before + 2
    assert np.array_equal(B.gaussian_filter(noisy, 0), noisy)
    name, out, value = B.best_filter(noisy, clean, 40)
    assert name in B.filter_bank(40) and value == pytest.approx(psnr(out, clean))
    assert value >= max(psnr(fn(noisy), clean) for fn in B.filter_bank(40).values()) - 1e-9
    # without noise the best "filter" is none at all
    assert B.best_filter(clean, clean, 0)[0] == "no filter"
    assert B.filter_for_sigma(2)[0] == "no filter" and B.filter_for_sigma(50)[0].startswith("Gaussian")


def test_median_filter_of_a_constant_image_and_a_single_outlier():
    img = np.full((1, 5, 5, 2), 80, np.uint8)
    img[0, 2, 2] = 255
    assert (B.median_filter(img, 3) == 80).all()


def test_bicubic_and_complexity():
    small = _digitish(size=8)
    big = B.bicubic(small, 16)
    assert big.shape == (6, 16, 16, 1) and big.dtype == np.uint8
    flat = np.full((1, 16, 16, 1), 90, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (1, 16, 16, 1)).astype(np.uint8)
    c = B.complexity(np.concatenate([flat, noise]))
    assert c[1] > 4 * c[0]
    assert set(B.BASELINES) == {"inpaint", "denoise", "upscale", "score", "synthesize"}
