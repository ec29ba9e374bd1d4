"""Defects a new user met on data nobody tuned for (hqa): each test asserts the fixed behaviour."""
import pytest
from PIL import Image

from engines.cli import main


def _images(folder, n=4, size=12):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (size, size), color=(i * 40, 10, 200 - i * 30)).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("typed, meant", [("lr", "(did you mean lr_g or lr_d?)"), ("lrg", "(did you mean lr_g?)"),
                                          ("flipp", "(did you mean flip?)")])
def test_an_unknown_setting_suggests_the_close_ones(tmp_path, capsys, typed, meant):
    """dcgan has lr_g and lr_d but no lr: `--set lr=1e-3` names them (the family's own before lr_backoff)."""
    imgs = _images(tmp_path / "imgs")
    assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(tmp_path / "run"),
                 "--steps", "1", "--set", f"{typed}=1e-3"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"unknown setting '{typed}' for dcgan {meant}; known: " in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_close_names_guesses_nothing_for_a_far_name():
    from engines.config import close_names, did_you_mean

    assert did_you_mean("learning_rate", ["lr_g", "lr_d", "beta1"]) == ""
    assert close_names("LR-G", ["lr_g", "lr_d"])[0] == "lr_g"
    assert close_names("", ["lr_g"]) == []


def test_several_plain_folders_say_each_became_a_class_and_one_folder_twice_stays_unlabelled(tmp_path, capsys):
    """`genstudio scan A B` on two folders without subfolders made two classes in silence; and the same
    folder given twice made a one-class labelled set where once it is unlabelled."""
    a, b = _images(tmp_path / "apples", n=3), _images(tmp_path / "pears", n=2)
    assert main(["scan", str(a), str(b), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "2 classes" in out and "note: each folder given became one class (2: apples, pears)" in out
    assert "for unlabelled data put the images in one folder" in out
    assert main(["scan", str(a), str(a), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "3 images, unlabelled" in out and "note:" not in out
    assert main(["scan", str(a), "--no-cache"]) == 0
    assert "note:" not in capsys.readouterr().out


def test_resuming_a_run_whose_budget_is_spent_says_how_to_train_further(capsys):
    """`train --out RUN --resume` on a run that used its --time stopped at once with only "time budget
    reached": the new user could not tell why nothing trained."""
    from engines.cli.train import print_events
    from engines.train import events as ev

    def session(start, end):
        return [ev.Started(run_dir=None, family="dcgan", start_step=start, total_steps=2000, device="cpu",
                           parameters=1, time_limit_s=15.0, train_seconds=15.0 if start else 0.0),
                ev.Finished(step=end, reason="time budget")]

    assert print_events(session(145, 145), quiet=True) == 0
    assert capsys.readouterr().out.strip() == ("time budget reached at step 145 (the run had already used its whole "
                                               "time budget: give a larger --time, or --time 0, to train further)")
    print_events(session(0, 145), quiet=True)      # a run that trained until its budget: no advice
    assert capsys.readouterr().out.strip() == "time budget reached at step 145"


def test_a_style_folder_is_named_a_folder_not_a_missing_file(tmp_path, capsys):
    imgs = _images(tmp_path / "imgs", n=1)
    assert main(["stylize", "--content", str(imgs / "0.png"), "--style", str(imgs), "--out",
                 str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a folder; give one image file" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_a_run_trained_on_a_relative_folder_resumes_from_another_folder(tmp_path, monkeypatch, capsys):
    """`genstudio train --data photos` recorded "photos" as typed: from any other working folder the run
    could not be resumed ("photos does not exist"), measured or self-checked."""
    import json

    _images(tmp_path / "work" / "photos", n=6, size=16)
    monkeypatch.chdir(tmp_path / "work")
    assert main(["train", "--family", "dcgan", "--data", "photos", "--out", str(tmp_path / "run"), "--size", "16",
                 "--steps", "2", "--batch-size", "4", "--quiet", "--set", "latent_dim=8", "--set", "g_width=8",
                 "--set", "d_width=8", "--set", "sample_every=0"]) == 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["data"]["sources"] == [str(tmp_path / "work" / "photos")]
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--steps", "3", "--quiet"]) == 0, \
        capsys.readouterr().err
    assert "completed at step 3" in capsys.readouterr().out


def test_the_studios_synthetic_dataset_into_a_file_is_refused_before_any_work(tmp_path):
    """The Tools panel's synthesize drew every sample, then said "cannot write FILE/0_00000.png: File exists"."""
    from engines.tools.common import ToolError
    from engines.tools.session import _synthesize

    a_file = tmp_path / "grey.png"
    a_file.write_bytes(b"x")
    with pytest.raises(ToolError, match="grey.png exists and is not a folder"):
        _synthesize(None, {}, {"out": str(a_file)}, None, 0, None)   # no model touched: refused first


def test_version_prints_the_versions_in_one_line(capsys):
    """`genstudio --version`, the first thing a person types for a bug report, was "unknown option"."""
    import torch

    from engines import __version__
    from studio.entry import main as entry_main

    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"genstudio {__version__}, PyTorch {torch.__version__}, Python ") and "\n" not in out
    with pytest.raises(SystemExit) as ended:
        entry_main(["--version"])
    assert ended.value.code == 0 and capsys.readouterr().out.strip() == out


def test_a_threshold_from_too_few_held_out_images_is_said_to_be_rough():
    """`score` flagged 16 of 16 images against a 5% threshold taken from 2 held-out images, without a word."""
    import numpy as np

    from engines.tools.score import Reference

    assert Reference(np.array([1.0, 2.0]), "held-out", 0.05).caution == (
        "only 2 held-out images: a threshold at 5% false positives needs at least 20, so read this one as rough")
    assert Reference(np.arange(20.0), "held-out", 0.05).caution == ""
    assert Reference(np.arange(10.0), "held-out", 0.1).caution == ""
    assert Reference(np.zeros(0), "held-out", 0.05).caution == ""


def test_an_unknown_label_suggests_the_class_meant():
    """`sample --label Cats` (or `dog`, or `birds` for the class folder "δ birds") named no close class."""
    from types import SimpleNamespace

    from engines.train.restore import label_index
    from engines.train.run import RunError

    engine = SimpleNamespace(family="cgan", conditional=True,
                             data=SimpleNamespace(class_names=["cats", "dogs", "δ birds"]))
    assert label_index(engine, "dogs") == 1
    for typed, meant in (("Cats", "cats"), ("dog", "dogs"), ("birds", "δ birds")):
        with pytest.raises(RunError, match=f"unknown label '{typed}' \\(did you mean {meant}\\?\\); known labels: "):
            label_index(engine, typed)


def test_set_time_limit_takes_a_duration_as_time_does():
    """`--set time_limit=10m` was "time_limit must be a number", though `--time 10m` works."""
    from engines import registry
    from engines.cli.train import split_settings
    from engines.config import ConfigError
    from engines.train.loop import TrainSettings

    family = registry.get("dcgan")
    _, settings = split_settings(family, family.config_class(), TrainSettings(), {"time_limit": "10m"})
    assert settings.time_limit == 600.0
    _, settings = split_settings(family, family.config_class(), TrainSettings(), {"time_limit": "45"})
    assert settings.time_limit == 45.0          # a plain number stays seconds
    with pytest.raises(ConfigError, match="time_limit '-3m' is not a duration"):
        split_settings(family, family.config_class(), TrainSettings(), {"time_limit": "-3m"})


def test_a_run_folder_given_as_images_is_said_and_one_inside_the_images_is_skipped(tmp_path, capsys):
    """`genstudio train --data RUN` (or a drop of a run folder) trained on the run's sample grids; a run
    written inside the photos folder became a class of sample grids."""
    from engines.data import DataError, load_images

    photos = _images(tmp_path / "photos", n=3)
    run = tmp_path / "photos" / "run1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    _images(run / "samples", n=2)
    data = load_images([photos], size=16, use_cache=False)
    assert len(data) == 3 and data.class_names == []
    assert [(s.path, s.reason.split(":")[0]) for s in data.skipped] == [(str(run), "a genstudio run folder")]
    with pytest.raises(DataError, match="run1 is a genstudio run folder .*not images to train on"):
        load_images([run], size=16, use_cache=False)
    assert main(["scan", str(run)]) == 2
    assert "is a genstudio run folder" in capsys.readouterr().err


def test_a_file_output_named_by_a_folder_without_a_suffix_reads_whole(tmp_path):
    """`score --csv out` (a folder) said "an output name ending in  is one file"."""
    from engines.export import ExportError, check_file_target

    (tmp_path / "out").mkdir()
    with pytest.raises(ExportError) as refused:
        check_file_target(tmp_path / "out", force=False)
    assert str(refused.value) == f"{tmp_path / 'out'} is a folder; give a file name for this output"
    (tmp_path / "x.png").mkdir()
    with pytest.raises(ExportError, match="an output name ending in .png is one file"):
        check_file_target(tmp_path / "x.png", force=False)


def test_train_out_over_a_file_is_refused_before_the_images_load(tmp_path, capsys):
    """`train --out FILE` loaded (and printed) the data, then refused."""
    imgs = _images(tmp_path / "imgs")
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile", tmp_path / "afile" / "run"):
        assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(out), "--steps", "1"]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and f"{tmp_path / 'afile'} is a file, not a folder" in captured.err
    assert (tmp_path / "afile").read_text() == "x"


def test_a_caption_in_another_script_is_drawn_not_boxed():
    """`sample --grid --labels` on class folder "δ birds" captioned "▯ birds": the default font has no Greek."""
    import numpy as np
    from PIL import ImageFont

    from engines.export import _caption_font, _load_font, captioned

    default = ImageFont.load_default()
    assert _caption_font("cats", default) is default        # Latin captions are drawn as before
    if _load_font("DejaVuSans.ttf") is None:
        pytest.skip("no fallback font on this machine (the default's boxes remain)")
    tiles = np.zeros((2, 8, 40, 3), np.uint8)
    greek, box = captioned(tiles, ["δ", "\ue000"])           # a private-use character: the "no glyph" box
    assert _caption_font("δ birds", default) is not default
    assert not np.array_equal(greek[8:], box[8:])
