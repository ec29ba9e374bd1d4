"""Small defects a fresh-eyes pass left (hqb): each test asserts the fixed behaviour."""
import pytest
from PIL import Image

from engines.cli import main


def _images(folder, n=3, size=12):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (size, size), color=(i * 40, 10, 200 - i * 30)).save(folder / f"{i}.png")
    return folder


def test_synthesize_never_writes_into_someone_elses_folder(tmp_path, capsys):
    """`genstudio synthesize RUN --out photos` wrote its class folders into a person's own training images;
    it only asked when a manifest.json was already there."""
    from engines.tools.common import ToolError
    from engines.tools.session import _synthesize

    photos = _images(tmp_path / "photos")
    before = sorted(p.name for p in photos.iterdir())
    # refused before the run is even opened (so no run is needed here), in one line, exit code 2
    assert main(["synthesize", str(tmp_path / "no-run"), "--n-per-class", "1", "--out", str(photos), "--no-cas"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("already holds files and is not a synthesize output (no manifest.json); pick an empty "
                        "or new folder") and len(err.splitlines()) == 1, err
    with pytest.raises(ToolError, match="pick an empty or new folder"):        # the Tools panel's path
        _synthesize(None, {}, {"out": str(photos), "force": True}, None, 0, None)
    assert sorted(p.name for p in photos.iterdir()) == before


def test_synthesize_accepts_a_new_or_empty_folder_or_its_own_earlier_output(tmp_path):
    from engines.tools.synthesize import check_dataset_folder

    check_dataset_folder(tmp_path / "new" / "set")
    (tmp_path / "empty").mkdir()
    check_dataset_folder(tmp_path / "empty")
    earlier = _images(tmp_path / "earlier")
    (earlier / "manifest.json").write_text("{}")
    check_dataset_folder(earlier)     # an earlier output: the manifest/--force question decides


@pytest.mark.parametrize("command", [["sample", "--n", "1", "--out", "x"], ["interpolate", "--a", "1", "--b", "2",
                                     "--out", "x.gif"], ["timelapse", "--out", "x.gif"],
                                     ["stylemix", "--rows", "1", "--cols", "1", "--out", "x.png"]])
def test_every_scale_flag_has_the_same_limit_and_words(tmp_path, capsys, command):
    """`sample --scale` allowed 1-32 but `interpolate --scale` 1-64, each with its own message."""
    from engines.export import MAX_SCALE, ExportError, ExportOptions

    args = [command[0], str(tmp_path / "no-run"), *command[1:-1], str(tmp_path / command[-1])]
    assert main(args + ["--scale", str(MAX_SCALE + 1)]) == 2
    assert capsys.readouterr().err.strip() == f"genstudio: error: --scale must be between 1 and {MAX_SCALE}"
    assert main(args + ["--scale", str(MAX_SCALE)]) == 2            # the limit itself passes: the run is missing
    assert "--scale" not in capsys.readouterr().err
    assert MAX_SCALE == 32
    with pytest.raises(ExportError, match=f"scale must be between 1 and {MAX_SCALE}"):
        ExportOptions(scale=MAX_SCALE + 1).check()


def test_attention_sizes_that_match_no_feature_map_refuse_a_new_run(tmp_path, capsys):
    """`--set attention_at=64,999` at 32 px was accepted, and the run got no attention at all."""
    from engines import registry
    from engines.families.base import DataSpec
    from engines.train.plan import DataPlan, RunPlan, TrainSettings, check_plan

    imgs = _images(tmp_path / "imgs", n=2)
    assert main(["train", "--family", "sagan", "--data", str(imgs), "--out", str(tmp_path / "run"), "--size", "32",
                 "--steps", "1", "--set", "attention_at=64,999"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("genstudio: error: attention_at 64,999 matches no feature map at 32 px: its feature maps are "
                   "4, 8, 16 (or leave attention_at empty for none)"), err
    assert not (tmp_path / "run").exists()
    sagan, biggan = registry.get("sagan"), registry.get("biggan")
    data = DataPlan((str(imgs),), 32, 1)
    for family, text, ok in ((sagan, "16,8", True), (sagan, "16,32", False), (biggan, "32", True),
                             (biggan, "64", False)):
        plan = RunPlan(family.name, registry.default_config(family.name, 32).__class__(attention_at=text),
                       TrainSettings(), data, {}, str(tmp_path / "new"), False, 1)
        if ok:
            check_plan(plan)
        else:
            with pytest.raises(ValueError, match="matches no feature map at 32 px"):
                check_plan(plan)
    mlp = registry.get("gan").config_class(attention_at="999")   # the mlp nets have no feature maps: not asked
    check_plan(RunPlan("gan", mlp, TrainSettings(), data, {}, None, False, 1))
    # an old run that has such values still opens and continues: only a new run is refused
    old = sagan.config_class(attention_at="64,999")
    sagan.engine_class(old, DataSpec(32, 1, 0, ()))
    check_plan(RunPlan("sagan", old, TrainSettings(), data, {}, str(tmp_path / "old"), True, 1))


def test_a_verdict_from_two_held_out_images_says_it_is_rough():
    """Self-check verdicts and synthesize's accuracy score were judged on 2 held-out images without a word."""
    import numpy as np

    from engines.tools.score import Reference
    from engines.tools.selfcheck import VERDICT_IMAGES, SelfCheck, cas_check

    class Run:   # cas_check reads only the family (for its suggestion)
        family = "ddpm"

    check = cas_check({"cas": 1.0, "real_baseline": 0.5, "test_images": 2}, Run(), {})
    rough = "only 2 held-out images: a verdict needs at least 10, so read this one as rough"
    assert check.caution == rough and check.verdict().endswith("stands in for real data; " + rough)
    assert check.to_json()["verdict"] == check.verdict() and check.to_json()["caution"] == rough
    win = SelfCheck("upscale", "PSNR (dB)", 23.5, 20.4, "bicubic", images=1, settings={"small": 8, "size": 16})
    assert win.verdict().endswith("; only 1 held-out image: a verdict needs at least 10, so read this one as rough")
    enough = SelfCheck("upscale", "PSNR (dB)", 23.5, 20.4, "bicubic", images=VERDICT_IMAGES,
                       settings={"small": 8, "size": 16})
    assert enough.caution == "" and "rough" not in enough.verdict()
    assert SelfCheck("denoise", "PSNR (dB)", None, None, "filter", reason="no data").caution == ""
    # score's threshold keeps its own wording, now from the same helper
    assert Reference(np.array([1.0, 2.0]), "held-out", 0.05).caution == (
        "only 2 held-out images: a threshold at 5% false positives needs at least 20, so read this one as rough")


def test_scan_reports_a_rotated_photos_size_as_shown(tmp_path, capsys):
    """A phone photo stored 40x20 with EXIF orientation 6 (shown 20 wide, 40 tall) was reported 40x20."""
    import json

    folder = tmp_path / "photos"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6                                    # rotate 90° clockwise to display
    Image.new("RGB", (40, 20), (200, 30, 30)).save(folder / "portrait.jpg", exif=exif)
    assert main(["scan", str(folder), "--no-cache", "--size", "16"]) == 0     # channels probed from headers
    assert "original sizes: width 20-20 (median 20), height 40-40 (median 40)" in capsys.readouterr().out
    assert main(["scan", str(folder), "--no-cache", "--size", "16", "--json", "--channels", "3"]) == 0   # decoded only
    got = json.loads(capsys.readouterr().out)
    assert (got["width"], got["height"]) == ([20, 20, 20], [40, 40, 40])
