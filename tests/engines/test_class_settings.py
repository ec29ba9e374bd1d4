"""Settings that cannot apply to a run are refused in one line, never kept and ignored: class settings
(Engine.class_settings, class limits) on a run without classes, by `train --set` and `sample --set`
alike, and settings that matter only under other settings' values (their `when`)."""

from PIL import Image

from engines.cli import main
from tests.engines.family_cases import SMALL_CONFIG
from tests.helpers import train_tiny_run


def _sets(family):
    return [a for k, v in SMALL_CONFIG[family].items() for a in ("--set", f"{k}={v}")]


def test_train_refuses_a_class_setting_on_a_run_without_classes(tmp_path, capsys):
    flat = tmp_path / "flat"
    for c, name in enumerate(("dark", "light")):
        (tmp_path / "labelled" / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (16, 16), color=40 + 150 * c + i).save(tmp_path / "labelled" / name / f"{i}.png")
            flat.mkdir(exist_ok=True)
            Image.new("L", (16, 16), color=40 + 150 * c + i).save(flat / f"{c}_{i}.png")
    cases = [("ddpm", flat, ["--set", "guidance=3"], "--set guidance acts only on class-conditional runs, and this "
                                                      "ddpm run has no classes: the data has no classes"),
             ("ddpm", flat, ["--set", "label_dropout=0.2"], "--set label_dropout acts only on class-conditional"),
             ("ebm", tmp_path / "labelled", ["--set", "conditional=false", "--set", "classifier_weight=2"],
              "conditional is off")]
    for family, data, extra, message in cases:
        out = tmp_path / f"run_{family}"
        assert main(["train", "--family", family, "--data", str(data), "--out", str(out), "--size", "16",
                     "--steps", "1", "--quiet", *_sets(family), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists()  # refused before the run folder is made


def test_sample_refuses_a_class_option_on_an_unconditional_run(tmp_path, capsys):
    run = train_tiny_run(tmp_path, steps=2)
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "1", "--out", str(tmp_path / "s.png"), "--set", "label=a"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("sampling option 'label' does not apply to this dcgan run: it acts only on "
                        "class-conditional runs, and this one has no classes"), err
    assert not (tmp_path / "s.png").exists()


def test_train_refuses_a_setting_whose_when_this_run_does_not_meet(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    for i in range(4):
        Image.new("L", (16, 16), color=i * 40).save(tmp_path / "imgs" / f"{i}.png")
    cases = [("sngan", ["--set", "real_label=0.9"], "--set real_label does not apply to this sngan run: it matters "
                                                     "only with loss=bce (this run: loss=hinge)"),
             ("dcgan", ["--set", "gp_weight=5"], "only with loss=wgan-gp"),
             ("gan", ["--set", "g_width=8"], "only with architecture=conv (this run: architecture=mlp)")]
    for family, extra, message in cases:
        out = tmp_path / f"run_{family}"
        assert main(["train", "--family", family, "--data", str(tmp_path / "imgs"), "--out", str(out), "--size", "16",
                     "--steps", "1", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists()
