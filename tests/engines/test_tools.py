"""Tools on tiny trained runs (16 px blobs, 4 training steps): inpainting keeps known pixels,
scores have the promised schema, denoising/upscaling return the run's size, synthetic datasets
carry a manifest, and a family that cannot do a tool says so in one line (exit 2)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from engines.cli import main
from engines.tools import denoise as dn
from engines.tools import inpaint as ip
from engines.tools import score as sc
from engines.tools import upscale as up
from engines.tools.common import ToolError, psnr
from engines.train.restore import load_engine
from tests.engines.tools_runs import SIZE, blob_images, train, write_folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("tools")
    images, labels = blob_images(24)
    data = write_folder(root / "data", images, labels)
    runs = {fam: train(root, fam, data) for fam in ("ddpm", "pixelcnn", "vae", "ae", "dcgan", "realnvp")}
    return {"root": root, "images": images, "labels": labels, "data": data, "runs": runs}


def _engine(world, family):
    return load_engine(world["runs"][family])[0]


# --- inpainting ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("family,options", [
    ("ddpm", {"resample": 2}), ("pixelcnn", {"sweeps": 1}), ("vae", {"steps": 20}), ("ae", {"steps": 20}),
    ("dcgan", {"steps": 20}), ("realnvp", {"steps": 10})])
def test_inpainting_keeps_every_known_pixel(world, family, options):
    engine = _engine(world, family)
    images = world["images"][:3]
    masks = [ip.box_mask(SIZE, (0, 8, 16, 8)), ip.box_mask(SIZE, (4, 4, 6, 6))]  # hole last; hole in the middle
    for mask in masks:
        res = ip.inpaint(engine, images, mask, candidates=2, seed=1, **options)
        assert res.images.shape == (3, 2, SIZE, SIZE, 1) and res.images.dtype == np.uint8
        assert (res.images[:, :, ~mask] == images[:, None][:, :, ~mask]).all()
        assert res.method
    if family == "pixelcnn":  # the method says which case it was
        assert "exact" in res.method or "Gibbs" in res.method


def test_per_image_masks_and_raster_order():
    holes = np.zeros((3, 4, 4), bool)
    holes[0, 2:] = True              # the last two rows: after every known pixel
    holes[1, 1, 1] = True            # a known pixel follows
    assert ip.raster_suffix(holes).tolist() == [True, False, True]  # no hole at all counts as exact


def test_mask_image_is_resized_and_thresholded(tmp_path):
    m = np.zeros((40, 40), np.uint8)
    m[:, 20:] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    mask = ip.load_mask(tmp_path / "m.png", 16)
    assert mask.shape == (16, 16) and mask[:, 9:].all() and not mask[:, :7].any()
    with pytest.raises(ToolError):
        ip.box_mask(16, (20, 20, 4, 4))


def test_cli_inpaint_keeps_names_skips_bad_inputs_and_never_overwrites(world, tmp_path, capsys):
    src = tmp_path / "in"
    write_folder(src / "sub", world["images"][:2])
    (src / "broken.png").write_bytes(b"not a png")
    Image.fromarray(world["images"][2, ..., 0]).save(src / "c.jpg")
    out = tmp_path / "out"
    args = ["inpaint", str(world["runs"]["vae"]), "--images", str(src), "--box", "0,0,8,16", "--out", str(out),
            "--candidates", "2", "--steps", "10"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and "latent optimisation" in captured.out
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["c.c1.png", "c.png", "sub/000.c1.png", "sub/000.png", "sub/001.c1.png", "sub/001.png"]
    result = np.asarray(Image.open(out / "sub" / "001.png"))
    assert result.shape == (SIZE, SIZE) and (result[:, 8:] == world["images"][1, :, 8:, 0]).all()
    assert main(args) == 2 and "--force" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0


def test_cli_inpaint_with_a_mask_file_and_an_exported_model(world, tmp_path, capsys):
    model = tmp_path / "model.safetensors"
    assert main(["export", str(world["runs"]["ddpm"]), "--out", str(model)]) == 0
    m = np.zeros((16, 16), np.uint8)
    m[4:12, 4:12] = 255
    Image.fromarray(m).save(tmp_path / "mask.png")
    write_folder(tmp_path / "in", world["images"][:2])
    capsys.readouterr()
    assert main(["inpaint", str(model), "--images", str(tmp_path / "in"), "--mask", str(tmp_path / "mask.png"),
                 "--out", str(tmp_path / "out")]) == 0
    assert "RePaint" in capsys.readouterr().out
    got = np.asarray(Image.open(tmp_path / "out" / "000.png"))
    keep = m == 0
    assert (got[keep] == world["images"][0, ..., 0][keep]).all()


# --- scores ----------------------------------------------------------------------------------------------

def test_score_json_schema_reference_and_complexity_correction(world, tmp_path, capsys):
    write_folder(tmp_path / "q", world["images"][:3])
    (tmp_path / "q" / "notes.txt").write_text("skip me")
    capsys.readouterr()
    assert main(["score", str(world["runs"]["realnvp"]), "--images", str(tmp_path / "q"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["scores"]
    assert len(rows) == 3 and all({"path", "score"} <= set(r) for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)  # most unusual first
    assert report["complexity_corrected"] and "Serrà" in report["method"]
    for r in rows:
        assert r["score"] == pytest.approx(r["raw_bits_per_dim"] - r["png_bits_per_dim"], abs=1e-5)
    ref = report["reference"]
    assert ref["images"] == 6 and "held-out" in ref["description"] and 0 < ref["fpr"] < 1
    assert len(ref["histogram"]["edges"]) == len(ref["histogram"]["counts"]) + 1
    assert sum(ref["histogram"]["reference_counts"]) == 6
    assert report["skipped"][0]["path"].endswith("notes.txt")


@pytest.mark.parametrize("family,word", [("pixelcnn", "bits/dim"), ("vae", "ELBO"), ("ae", "reconstruction"),
                                         ("ddpm", "denoising"), ("dcgan", "projection")])
def test_every_family_scores_with_its_own_method(world, family, word):
    engine = _engine(world, family)
    res = sc.score(engine, world["images"][:4], projection_steps=5)
    assert word in res.method and res.scores.shape == (4,) and np.isfinite(res.scores).all()
    again = sc.score(engine, world["images"][:4], projection_steps=5)
    np.testing.assert_allclose(res.scores, again.scores, rtol=1e-5)  # repeatable


def test_score_csv_file(world, tmp_path, capsys):
    write_folder(tmp_path / "q", world["images"][:2])
    out = tmp_path / "s.csv"
    assert main(["score", str(world["runs"]["ae"]), "--images", str(tmp_path / "q"), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and {"path", "score", "unusual"} <= set(rows[0])
    assert main(["score", str(world["runs"]["ae"]), "--images", str(tmp_path / "q"), "--csv", str(out)]) == 2
    (tmp_path / "d.csv").mkdir()   # a folder of that name: refused before any scoring, even with --force
    capsys.readouterr()
    assert main(["score", str(world["runs"]["ae"]), "--images", str(tmp_path / "q"), "--csv", str(tmp_path / "d.csv"),
                 "--force", "--no-check"]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_auroc_and_histogram():
    assert sc.auroc(np.array([0, 1, 2.0]), np.array([3, 4.0])) == 1.0
    assert sc.auroc(np.array([3, 4.0]), np.array([0, 1.0])) == 0.0
    assert sc.auroc(np.array([1, 1.0]), np.array([1.0])) == 0.5
    h = sc.histogram(np.array([0.0, 1.0]), np.array([0.5]), bins=4)
    assert sum(h["counts"]) == 2 and sum(h["reference_counts"]) == 1
    ref = sc.Reference(np.arange(100.0), "x", 0.05)
    assert 94 <= ref.threshold <= 95


# --- denoising -----------------------------------------------------------------------------------------------

def test_noise_level_estimate_and_matching_step(world):
    flat = np.full((2, 32, 32, 1), 128, np.uint8)
    noisy = dn.add_noise(flat, 20.0, seed=0)
    assert dn.estimate_sigma(noisy) == pytest.approx([20.0, 20.0], rel=0.15)
    engine = _engine(world, "ddpm")
    steps = [dn.matching_step(engine, s) for s in (5, 25, 80)]
    assert steps == sorted(steps) and steps[0] < steps[-1]


@pytest.mark.parametrize("family", ["ddpm", "ae", "realnvp"])
def test_denoise_returns_the_run_size_and_names_the_method(world, family):
    engine = _engine(world, family)
    noisy = dn.add_noise(world["images"][:3], 25.0)
    res = dn.denoise(engine, noisy, sigma=25.0, steps=10)
    assert res.images.shape == noisy.shape and res.images.dtype == np.uint8 and not res.estimated
    assert res.method and (res.sigmas == 25.0).all()


def test_diffusion_denoising_without_noise_is_the_identity(world):
    engine = _engine(world, "ddpm")
    res = dn.denoise(engine, world["images"][:2], sigma=0.0)
    assert (res.images == world["images"][:2]).all()


def test_cli_denoise_reports_the_estimated_level(world, tmp_path, capsys):
    write_folder(tmp_path / "noisy", dn.add_noise(world["images"][:2], 25.0))
    assert main(["denoise", str(world["runs"]["vae"]), "--images", str(tmp_path / "noisy"),
                 "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "estimated" in text and "encode-decode" in text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000.png", "001.png"]
    # the held-out self-check comes first, against the best filter; --json carries it (cached: no second run)
    first = text.splitlines()[0]
    assert first.startswith(("self-check: on ", "warning: on ")) and "the best filter" in first
    assert main(["denoise", str(world["runs"]["vae"]), "--images", str(tmp_path / "noisy"),
                 "--out", str(tmp_path / "out"), "--force", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    check = report["self_check"]
    assert check["tool"] == "denoise" and check["model"] is not None and check["baseline"] is not None
    assert check["verdict"] in first and check["loses"] == first.startswith("warning")
    assert len(report["written"]) == 2


# --- super-resolution ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["ddpm", "vae"])
def test_upscale_to_the_run_size_with_a_bicubic_baseline(world, family):
    engine = _engine(world, family)
    small = up.shrink(world["images"][:2], 8)
    res = up.upscale(engine, small, steps=10)
    assert res.images.shape == (2, SIZE, SIZE, 1) and res.bicubic.shape == (2, SIZE, SIZE, 1)
    assert res.method
    if family == "ddpm":  # ILVR: the result shrinks back to (nearly) the input
        assert psnr(up.shrink(res.images, 8), small) > 30


def test_cli_upscale_skips_images_that_are_not_smaller(world, tmp_path, capsys):
    write_folder(tmp_path / "in", up.shrink(world["images"][:1], 8))
    Image.fromarray(world["images"][1, ..., 0]).save(tmp_path / "in" / "big.png")
    assert main(["upscale", str(world["runs"]["ae"]), "--images", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                 "--bicubic", "--steps", "5"]) == 0
    err = capsys.readouterr().err
    assert "big.png" in err and "16 px" in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["000.bicubic.png", "000.png"]


def test_cli_upscale_with_no_smaller_image_says_so(world, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    Image.fromarray(world["images"][1, ..., 0]).save(tmp_path / "in" / "big.png")
    assert main(["upscale", str(world["runs"]["ae"]), "--images", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                 "--steps", "5"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"no images smaller than the run's {SIZE} px" in last and "enlarges" in last
    assert not (tmp_path / "o").exists()


# --- synthetic datasets -------------------------------------------------------------------------------------------

def test_synthesize_writes_class_folders_and_a_manifest(world, tmp_path, capsys):
    out = tmp_path / "syn"
    assert main(["synthesize", str(world["runs"]["ddpm"]), "--n-per-class", "3", "--out", str(out),
                 "--seed", "5"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["left", "manifest.json", "right"]
    assert len(list((out / "left").glob("*.png"))) == 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run"] == str(world["runs"]["ddpm"]) and manifest["family"] == "ddpm"
    assert manifest["checkpoint"].endswith(".json") and manifest["checkpoint_step"] == 4
    assert manifest["seeds"] == [5, 6] and manifest["settings"]["n_per_class"] == 3
    assert manifest["classes"] == {"left": 3, "right": 3} and len(manifest["files"]) == 6
    cas = manifest["classification_accuracy"]
    assert 0 <= cas["cas"] <= 1 and cas["test_images"] == 6
    printed = capsys.readouterr().out
    assert "classification accuracy score" in printed
    check = manifest["self_check"]   # the CAS against real data is synthesize's held-out self-check
    assert check["tool"] == "synthesize" and check["model"] == cas["cas"] and check["baseline"] == cas["real_baseline"]
    assert check["verdict"] in printed and check["loses"] == (cas["cas"] < 0.8 * cas["real_baseline"])
    assert main(["synthesize", str(world["runs"]["ddpm"]), "--n-per-class", "3", "--out", str(out)]) == 2


def test_synthesize_through_the_session_carries_its_self_check(world, tmp_path):
    from engines.tools.session import run_tool

    engine, record = load_engine(world["runs"]["ddpm"])
    r = run_tool(engine, record, "synthesize", [], {"out": str(tmp_path / "s"), "n_per_class": 2, "seed": 1})
    check, cas = r["self_check"], r["scores"]
    assert check["tool"] == "synthesize" and check["measure"] == "CAS" and check["model"] == cas["cas"]
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["self_check"]["verdict"] == check["verdict"]


def test_synthesize_unlabelled_is_flat_and_filters_by_confidence(world, tmp_path):
    out = tmp_path / "flat"
    assert main(["synthesize", str(world["runs"]["dcgan"]), "--n-per-class", "4", "--out", str(out),
                 "--min-confidence", "0.5"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest["conditional"] and manifest["settings"]["min_confidence"] == 0.5
    assert manifest["drawn"] >= manifest["kept"]
    assert all("/" not in f for f in manifest["files"])


# --- families that cannot -------------------------------------------------------------------------------------------

def test_a_family_that_cannot_says_so_in_one_line(world, tmp_path, capsys):
    write_folder(tmp_path / "in", world["images"][:1])
    for tool in ("denoise", "upscale"):
        assert main([tool, str(world["runs"]["pixelcnn"]), "--images", str(tmp_path / "in"),
                     "--out", str(tmp_path / tool)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "pixelcnn run cannot" in err and "ddpm" in err
        assert not (tmp_path / tool).exists()


# --- the later families: EBM, VQ-VAE, pixel transformer, StyleGAN -----------------------------------------------

@pytest.fixture(scope="module")
def later():
    """Freshly built engines (the tools need their roles, not training; tests/engines/test_roles.py checks the roles)."""
    from engines import registry
    from engines.config import replace_checked
    from engines.families.base import DataSpec
    from tests.engines.family_cases import SMALL_CONFIG

    def build(name):
        family = registry.get(name)
        config = replace_checked(family.config_class(), **SMALL_CONFIG.get(name, {}))
        return family.engine_class(config, DataSpec(SIZE, 1, 2, ("left", "right")), "cpu")
    return {fam: build(fam) for fam in ("ebm", "vqvae", "transformer", "stylegan")}


@pytest.mark.parametrize("family,word", [("ebm", "energy"), ("vqvae", "reconstruction"), ("transformer", "bits/dim"),
                                         ("stylegan", "projection")])
def test_later_families_score(world, later, family, word):
    res = sc.score(later[family], world["images"][:3], projection_steps=5)
    assert word in res.method and res.scores.shape == (3,) and np.isfinite(res.scores).all()


def test_ebm_inpaints_with_clamped_langevin_and_denoises(world, later):  # (the algorithm: test_tool_pipelines.py)
    engine = later["ebm"]
    mask = ip.box_mask(SIZE, (4, 4, 8, 8))
    res = ip.inpaint(engine, world["images"][:2], mask, steps=5)
    assert "Langevin" in res.method and (res.images[:, 0][:, ~mask] == world["images"][:2][:, ~mask]).all()
    den = dn.denoise(engine, dn.add_noise(world["images"][:2], 20.0), steps=5)
    assert "Langevin" in den.method and den.images.shape == (2, SIZE, SIZE, 1)


def test_vqvae_denoises_by_encode_decode_and_stylegan_inpaints_by_projection(world, later):
    den = dn.denoise(later["vqvae"], dn.add_noise(world["images"][:2], 20.0))
    assert "encode-decode" in den.method and den.images.shape == (2, SIZE, SIZE, 1)
    mask = ip.box_mask(SIZE, (0, 0, 8, 16))
    res = ip.inpaint(later["stylegan"], world["images"][:2], mask, steps=5)
    assert "latent" in res.method and (res.images[:, 0][:, ~mask] == world["images"][:2][:, ~mask]).all()


def test_pixel_transformer_inpaints_exactly_or_by_gibbs(world, later):
    engine = later["transformer"]
    images = world["images"][:2]
    for mask, word in ((ip.box_mask(SIZE, (0, 8, 16, 8)), "exact"), (ip.box_mask(SIZE, (4, 4, 4, 4)), "Gibbs")):
        res = ip.inpaint(engine, images, mask, candidates=2, sweeps=1)
        assert word in res.method and res.images.shape == (2, 2, SIZE, SIZE, 1)
        assert (res.images[:, :, ~mask] == images[:, None][:, :, ~mask]).all()


def test_latent_diffusion_scores_denoises_and_says_what_it_cannot(world, tmp_path, capsys):
    run = train(world["root"] / "ldm", "ldm", world["data"], steps=5)
    engine = load_engine(run)[0]
    res = sc.score(engine, world["images"][:3])
    assert "latent space" in res.method and res.scores.shape == (3,) and np.isfinite(res.scores).all()
    den = dn.denoise(engine, dn.add_noise(world["images"][:2], 20.0))
    assert "first stage" in den.method and den.images.shape == (2, SIZE, SIZE, 1)
    write_folder(tmp_path / "in", world["images"][:1])
    assert main(["inpaint", str(run), "--images", str(tmp_path / "in"), "--box", "0,0,4,4",
                 "--out", str(tmp_path / "o")]) == 2
    assert "ldm run cannot inpaint" in capsys.readouterr().err


def test_denoising_with_a_briefly_trained_autoencoder_improves_psnr(world):
    run = train(world["root"] / "ae150", "ae", world["data"], steps=150, width=8, latent_dim=8)
    engine = load_engine(run)[0]
    noisy = dn.add_noise(world["images"], 40.0, seed=3)
    res = dn.denoise(engine, noisy, sigma=40.0)
    assert psnr(res.images, world["images"]) > psnr(noisy, world["images"]) + 2  # about 17.9 -> 22.6 dB


def test_families_lists_each_familys_tools(capsys):
    assert main(["families", "--json"]) == 0
    fams = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert "RePaint" in fams["ddpm"]["tools"]["inpaint"]
    assert fams["pixelcnn"]["tools"]["denoise"] is None and "bits/dim" in fams["pixelcnn"]["tools"]["score"]


def test_class_guided_inpainting_and_denoising_of_a_conditional_diffusion_run(world, tmp_path, capsys):
    write_folder(tmp_path / "in", world["images"][:2])
    for tool, extra in (("inpaint", ["--box", "0,0,8,16"]), ("denoise", ["--sigma", "20"]), ("upscale", [])):
        src = tmp_path / "in"
        if tool == "upscale":
            src = write_folder(tmp_path / "small", up.shrink(world["images"][:2], 8))
        assert main([tool, str(world["runs"]["ddpm"]), "--images", str(src), "--out", str(tmp_path / tool),
                     "--label", "right", "--set", "steps=3", *extra]) == 0, capsys.readouterr().err
        assert len(list((tmp_path / tool).glob("*.png"))) == 2
    assert main(["inpaint", str(world["runs"]["ddpm"]), "--images", str(tmp_path / "in"), "--box", "0,0,8,16",
                 "--out", str(tmp_path / "x"), "--label", "nope"]) == 2
    assert "unknown label" in capsys.readouterr().err


def test_an_output_folder_that_is_a_file_is_one_line_before_any_work(tmp_path):
    """`denoise/inpaint/upscale/translate/synthesize --out FILE` and `interpolate --out FILE` (folder
    of frames) ended in an internal FileExistsError / NotADirectoryError, after the work was done."""
    from engines.export import ExportError, export_frames
    from engines.tools.common import ToolError, check_out_folder, output_paths, write_png

    afile = tmp_path / "afile"
    afile.write_text("keep me")
    with pytest.raises(ToolError, match="afile exists and is not a folder"):
        output_paths(afile, ["a.png"], force=True)
    with pytest.raises(ToolError, match="afile is a file, not a folder"):
        check_out_folder(afile / "x" / "y")
    check_out_folder(tmp_path / "new" / "folder")                 # not there yet: fine
    with pytest.raises(ToolError, match="cannot write"):
        write_png(np.zeros((4, 4, 3), np.uint8), afile / "x.png")
    with pytest.raises(ExportError, match="exists and is not a folder"):
        export_frames(np.zeros((2, 4, 4, 3), np.uint8), afile, force=True)
    assert afile.read_text() == "keep me"


def test_a_tool_that_writes_one_image_says_1_image(tmp_path, capsys):
    """The tools said "wrote 1 images"."""
    from tests.helpers import train_tiny_run

    run = train_tiny_run(tmp_path, steps=2)
    Image.new("L", (16, 16), 90).save(tmp_path / "one.png")
    capsys.readouterr()
    assert main(["denoise", str(run), "--images", str(tmp_path / "one.png"), "--out", str(tmp_path / "d"),
                 "--no-check", "--steps", "2"]) == 0
    assert "wrote 1 image to" in capsys.readouterr().out
