"""Style transfer (engines/style): feature networks, Gatys optimisation, the stylize command."""

import numpy as np
import pytest
import torch
from PIL import Image

from engines.cli import main
from engines.families.base import Cancelled
from engines.style import (FeatureError, ModuleFeatures, RandomFeatures, StyleError, StyleOptions, VGG19Features,
                           load_features, stylize)
from engines.style import colour
from engines.style.features import VGG19_TENSOR_NAMES, _VGG_CONVS
from engines.style.gatys import gram


def _content(h=20, w=28):
    """A bright disc on a dark ground: a shape whose survival is easy to check."""
    yy, xx = np.mgrid[0:h, 0:w]
    disc = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) < (min(h, w) / 3) ** 2
    img = np.zeros((h, w, 3), np.uint8)
    img[disc] = (230, 230, 230)
    img[~disc] = (20, 40, 60)
    return img


def _style(size=24, seed=0):
    """Colourful diagonal stripes with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    band = ((xx + yy) // 3) % 3
    palette = np.array([[250, 40, 20], [20, 200, 60], [30, 60, 240]], np.uint8)
    img = palette[band].astype(np.int16) + rng.integers(-20, 20, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _fast(**kw):
    base = dict(size=16, steps=30, style_weight=10.0, preview_every=5, lr=0.05)
    base.update(kw)
    return StyleOptions(**base)


def test_random_features_are_fixed_by_the_seed_and_never_trained():
    x = torch.rand(1, 3, 16, 16)
    a, b, c = RandomFeatures(0), RandomFeatures(0), RandomFeatures(1)
    fa, fb, fc = a(x), b(x), c(x)
    assert set(fa) == set(a.style_layers) and a.content_layer in fa
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
    assert not torch.allclose(fa["scale1"], fc["scale1"])
    assert not any(p.requires_grad for p in a.parameters())
    assert "scale1@2" in fa and fa["scale1@2"].shape[-1] == 8     # the half-size copy of the image


def test_optimisation_moves_style_statistics_and_keeps_the_shape():
    content, style = _content(), _style()
    features = RandomFeatures(0)
    result = stylize(content, style, _fast(size=32, lr=0.02), features)
    assert result.image.dtype == np.uint8 and result.image.shape == (23, 32, 3)  # longest side 32, aspect kept
    assert result.steps_done == 30 and not result.stopped
    first, last = result.history[0], result.history[-1]
    assert last["style"] < 0.5 * first["style"]
    # Independent check, in another random network: Gram distance to the style image drops.
    judge = RandomFeatures(123)
    s = torch.from_numpy(np.array(Image.fromarray(style).resize((32, 32)))).permute(2, 0, 1)[None].float() / 255

    def dist(img):
        t = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255
        fa, fs = judge(t), judge(s)
        return sum(float((gram(fa[k]) - gram(fs[k])).pow(2).mean()) for k in ("scale1", "scale2"))

    small_content = np.asarray(Image.fromarray(content).resize((32, 23)))
    assert dist(result.image) < dist(small_content)
    # the disc survives: the centre stays brighter than the corners
    grey = result.image.mean(-1)
    assert grey[8:15, 12:20].mean() > grey[:3, :3].mean() + 40


def test_same_seed_same_image_and_noise_init_differs_by_seed():
    a = stylize(_content(), _style(), _fast(steps=5, init="noise", seed=3), RandomFeatures(0)).image
    b = stylize(_content(), _style(), _fast(steps=5, init="noise", seed=3), RandomFeatures(0)).image
    c = stylize(_content(), _style(), _fast(steps=5, init="noise", seed=4), RandomFeatures(0)).image
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_lbfgs_lowers_the_loss_within_its_budget():
    result = stylize(_content(), _style(), _fast(optimizer="lbfgs", steps=12), RandomFeatures(0))
    assert result.steps_done == 12
    assert result.history[-1]["total"] < result.history[0]["total"]


def test_progress_previews_and_cancel_keeps_the_current_image():
    seen = []

    def progress(p):
        seen.append((p.step, p.image is not None))
        if p.step == 10:
            raise Cancelled

    result = stylize(_content(), _style(), _fast(steps=30), RandomFeatures(0), progress)
    assert result.stopped and result.steps_done == 10
    assert [s for s, has in seen if has] == [5, 10]
    assert result.image.shape == (11, 16, 3)
    assert not np.array_equal(result.image, np.asarray(Image.fromarray(_content()).resize((16, 11))))


def test_preserve_colour_keeps_the_content_chroma():
    content = _content()
    result = stylize(content, _style(), _fast(preserve_colour=True, steps=20), RandomFeatures(0))
    small = np.asarray(Image.fromarray(content).resize((16, 11), Image.Resampling.LANCZOS)) / 255.0
    chroma_out = colour.to_ycbcr(result.image / 255.0)[..., 1:]
    chroma_in = colour.to_ycbcr(small)[..., 1:]
    assert np.abs(chroma_out - chroma_in).mean() < 0.03
    plain = stylize(content, _style(), _fast(steps=20), RandomFeatures(0))
    assert np.abs(colour.to_ycbcr(plain.image / 255.0)[..., 1:] - chroma_in).mean() > 0.03


@pytest.mark.parametrize("size", [0, 8, 5000])
def test_absurd_sizes_are_refused_with_a_reason(size):
    with pytest.raises(StyleError, match="between 16 and 2048"):
        stylize(_content(), _style(), _replace_size(size), RandomFeatures(0))


def _replace_size(size):
    import dataclasses
    return dataclasses.replace(StyleOptions(steps=1), size=size)


def test_a_large_content_image_is_stylised_at_the_chosen_size():
    big = np.zeros((900, 1200, 3), np.uint8)
    big[200:700, 300:900] = 200
    result = stylize(big, _style(), _fast(steps=2), RandomFeatures(0))
    assert result.image.shape == (12, 16, 3)


def _vgg_file(path, broken=None):
    from safetensors.torch import save_file

    tensors = {}
    gen = torch.Generator().manual_seed(0)
    for idx, _name, cin, cout in _VGG_CONVS[:13]:
        tensors[f"features.{idx}.weight"] = (torch.randn(cout, cin, 3, 3, generator=gen) * (2 / (9 * cin)) ** 0.5).half()
        tensors[f"features.{idx}.bias"] = torch.zeros(cout).half()
    if broken == "shape":
        tensors["features.10.weight"] = torch.zeros(256, 64, 3, 3).half()
    if broken == "missing":
        del tensors["features.28.bias"]
    save_file(tensors, str(path))
    return path


def test_vgg19_weights_from_safetensors_and_clear_errors_for_wrong_files(tmp_path):
    assert VGG19_TENSOR_NAMES[0] == "features.0.weight"
    features = load_features(str(_vgg_file(tmp_path / "vgg19.safetensors")))
    assert isinstance(features, VGG19Features) and features.content_layer == "conv4_2"
    out = features(torch.rand(1, 3, 32, 32))
    assert {"conv1_1", "conv5_1", "conv4_2"} <= set(out)
    result = stylize(_content(), _style(), _fast(steps=3, size=32), features)
    assert result.image.shape == (23, 32, 3)
    with pytest.raises(FeatureError, match="has shape"):
        load_features(str(_vgg_file(tmp_path / "bad.safetensors", "shape")))
    with pytest.raises(FeatureError, match="missing.*features.28.bias"):
        load_features(str(_vgg_file(tmp_path / "short.safetensors", "missing")))
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(FeatureError, match="not a readable safetensors"):
        load_features(str(tmp_path / "junk.safetensors"))
    (tmp_path / "vgg19.pth").write_bytes(b"\x80\x04pickle")
    with pytest.raises(FeatureError, match="never pickles"):
        VGG19Features.from_file(tmp_path / "vgg19.pth")
    with pytest.raises(FeatureError, match="no such file"):
        load_features(str(tmp_path / "nothing_here"))


def test_features_of_a_trained_run_and_of_a_classifier(tmp_path):
    from engines.quality import FeatureSpace

    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(12):
        Image.fromarray(_content(16, 16)[..., 0] // (1 + i % 3)).save(data / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--family", "ae", "--data", str(data), "--out", str(run), "--size", "16", "--steps", "3",
                 "--batch-size", "4", "--set", "width=4", "--set", "sample_every=0", "--quiet"]) == 0
    features = load_features(str(run))
    assert isinstance(features, ModuleFeatures) and "ae run" in features.description
    out = features(torch.rand(1, 3, 32, 32))
    assert features.content_layer in out and "conv1@2" in out
    result = stylize(_content(), _style(), _fast(steps=10, size=32), features)
    assert result.history[-1]["style"] < result.history[0]["style"]
    assert main(["export", str(run), "--out", str(tmp_path / "ae.safetensors")]) == 0
    exported = load_features(str(tmp_path / "ae.safetensors"))     # an exported model, not VGG weights
    assert isinstance(exported, ModuleFeatures)

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (40, 12, 12, 3), dtype=np.uint8)
    labels = np.arange(40) % 2
    images[labels == 1] //= 3
    space = FeatureSpace.fit(images, labels, epochs=1)
    clf = ModuleFeatures.from_classifier(space)
    result = stylize(_content(), _style(), _fast(steps=10), clf)
    assert result.history[-1]["style"] < result.history[0]["style"]


def test_a_run_without_conv_layers_is_refused(tmp_path):
    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(8):
        Image.new("L", (16, 16), color=i * 20).save(data / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--family", "realnvp", "--data", str(data), "--out", str(run), "--size", "16",
                 "--steps", "1", "--batch-size", "4", "--set", "sample_every=0", "--quiet"]) == 0
    with pytest.raises(FeatureError, match="no conv encoder or discriminator"):
        load_features(str(run))


# --- genstudio stylize -----------------------------------------------------------------------------

def _images(tmp_path):
    content = tmp_path / "content"
    (content / "sub").mkdir(parents=True)
    Image.fromarray(_content()).save(content / "disc.png")
    Image.fromarray(_content(30, 20)).save(content / "sub" / "tall.jpg")
    (content / "notes.png").write_text("not an image")
    style = tmp_path / "style.png"
    Image.fromarray(_style()).save(style)
    return content, style


def test_stylize_a_folder_keeps_names_skips_bad_files_and_never_overwrites(tmp_path, capsys):
    content, style = _images(tmp_path)
    out = tmp_path / "out"
    args = ["stylize", "--content", str(content), "--style", str(style), "--out", str(out), "--size", "16",
            "--steps", "3"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert (out / "disc.png").is_file() and (out / "sub" / "tall.png").is_file()
    assert not (out / "notes.png").exists()
    assert "notes.png" in err and "not an image" in err and "step 3/3" in err
    im = Image.open(out / "sub" / "tall.png")
    assert im.mode == "RGB" and im.size == (11, 16)
    before = (out / "disc.png").read_bytes()
    assert main(args + ["--seed", "5"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "disc.png").read_bytes() == before
    assert main(args + ["--force", "--init", "noise", "--seed", "5"]) == 0
    assert (out / "disc.png").read_bytes() != before


def test_stylize_one_image_to_a_png_file(tmp_path):
    content, style = _images(tmp_path)
    out = tmp_path / "result.png"
    assert main(["stylize", "--content", str(content / "disc.png"), "--style", str(style), "--out", str(out),
                 "--size", "16", "--steps", "2", "--preserve-colour", "--optimizer", "lbfgs"]) == 0
    assert Image.open(out).size == (16, 11)
    jpeg = tmp_path / "new" / "result.jpg"  # any image suffix is a file, in its format; folders are made
    assert main(["stylize", "--content", str(content / "disc.png"), "--style", str(style), "--out", str(jpeg),
                 "--size", "16", "--steps", "1"]) == 0
    assert Image.open(jpeg).format == "JPEG"


@pytest.mark.parametrize("extra, message", [
    (["--size", "100000"], "--size must be between 16 and 2048"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--style-weight", "-1"], "--style-weight must be at least 0"),
    (["--features", "{style}"], "give 'random', a VGG-19 .safetensors file or a run folder"),
    (["--features", "{tmp}/missing.safetensors"], "is not a file"),
    (["--style", "{content}/notes.png"], "--style notes.png: not an image"),
    (["--content", "{tmp}/nope"], "no such file or folder"),
    (["--out", "{tmp}/one.png"], "--out one.png takes one content image"),
    (["--out", "{tmp}/one.webp"], "--out one.webp takes one content image"),
])
def test_stylize_mistakes_are_one_line_and_exit_2(tmp_path, capsys, extra, message):
    content, style = _images(tmp_path)
    fill = {"style": str(style), "tmp": str(tmp_path), "content": str(content)}
    args = ["stylize", "--content", str(content), "--style", str(style), "--out", str(tmp_path / "o"),
            "--size", "16", "--steps", "1"]
    args += [a.format(**fill) for a in extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("genstudio: error:")


def test_flat_regions_get_texture_only_from_the_style_coloured_start():
    """A flat area's pixels all receive the same gradient: started from the content alone it stays flat
    (recoloured); the default start adds the style's noise, from which texture grows."""
    flat = np.full((16, 16, 3), 200, np.uint8)
    plain = stylize(flat, _style(), _fast(steps=5, init_noise=0.0, moment_weight=0.0), RandomFeatures(0)).image
    textured = stylize(flat, _style(), _fast(steps=5), RandomFeatures(0)).image
    inner = (slice(4, 12), slice(4, 12))
    assert plain[inner].astype(float).std(axis=(0, 1)).max() < 2.0
    assert textured[inner].astype(float).std(axis=(0, 1)).max() > 10.0


def test_style_noise_has_the_style_spectrum_and_no_mean():
    from engines.style.gatys import style_noise

    style = _style(32).astype(np.float64) / 255
    a = style_noise(style, (32, 32), torch.Generator().manual_seed(0))
    b = style_noise(style, (32, 32), torch.Generator().manual_seed(1))
    assert a.shape == (1, 3, 32, 32) and abs(float(a.mean())) < 1e-4
    assert not torch.allclose(a, b)
    # random phases keep each channel's energy: its spread is the style channel's spread
    assert np.allclose(a[0].flatten(1).std(1).numpy(), style.reshape(-1, 3).std(0), rtol=0.05)


def test_module_features_keep_the_layers_a_coarse_scale_reaches():
    """`stylize --features` a 16 px DCGAN run stopped with an internal error: at 1/4 scale the
    discriminator's last 4x4 conv met a 2x2 map. The coarse scale now gives the layers it reaches."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 4, 2, 1), torch.nn.Conv2d(4, 4, 4, 2, 1),
                              torch.nn.Conv2d(4, 1, 4, 1, 0))
    features = ModuleFeatures(net, 3, "a small discriminator")
    out = features(torch.rand(1, 3, 16, 16))
    assert {"conv1@1", "conv2@1", "conv3@1", "conv1@4", "conv2@4"} <= set(out) and "conv3@4" not in out
    with pytest.raises(RuntimeError):          # a module that fails before any layer still says so
        ModuleFeatures(torch.nn.Sequential(torch.nn.Conv2d(5, 4, 3)), 3, "wrong channels")(torch.rand(1, 3, 16, 16))
