"""Sampling options are a typed config per family: one Qt-free check shared by `sample --set`, the
Sampler panel and the engines, with the same messages as `--set` for training."""

import dataclasses
import json

import pytest

from engines import registry
from engines.cli import main
from engines.config import ConfigError, replace_checked
from engines.families.base import DataSpec
from engines.sampling import check_sampling_options, parse_sampling_options, sampling_fields
from tests.engines.family_cases import SMALL_CONFIG
from tests.helpers import train_tiny_run


def make(name, classes=0, **changes):
    family = registry.get(name)
    config = replace_checked(family.config_class(), **{**SMALL_CONFIG.get(name, {}), **changes})
    names = tuple(f"c{i}" for i in range(classes))
    return family.engine_class(config, DataSpec(16, 1, classes, names), "cpu")


def test_every_family_declares_its_sampling_options_as_a_typed_config():
    with_options = {f.name for f in registry.all_families() if f.engine_class.sampling_config is not None}
    assert {"ddpm", "pixelcnn", "realnvp", "glow", "vae", "cgan"} <= with_options
    for f in registry.all_families():
        if f.engine_class.sampling_config is not None:
            assert dataclasses.is_dataclass(f.engine_class.sampling_config)
        if len(f.engine_class.inputs) > 1:  # needs other inputs to build (covered by the contract test)
            continue
        engine = make(f.name)
        fields = sampling_fields(engine)
        current = engine.sampling_options()
        for info in fields:  # the form's defaults are the run's own values
            assert info.default == getattr(current, info.name)


def test_the_run_sets_the_limits_and_the_defaults():
    engine = make("ddpm", timesteps=60, sample_steps=12, eta=0.25)
    fields = {i.name: i for i in sampling_fields(engine)}
    assert fields["steps"].max == 60 and fields["steps"].default == 12 and fields["eta"].default == 0.25
    with pytest.raises(ConfigError, match="steps must be at most 60; got 61"):
        parse_sampling_options(engine, {"steps": "61"})
    parsed = parse_sampling_options(engine, {"steps": "20", "sampler": "Ancestral", "ema": "no"})
    assert (parsed.steps, parsed.sampler, parsed.ema, parsed.eta) == (20, "ancestral", False, 0.25)
    assert engine.options.steps == 12  # parsing alone changes nothing


def test_invalid_options_change_nothing_and_name_the_first_bad_one():
    engine = make("ddpm", classes=2)
    before = engine.sampling_options()
    for bad, message in [({"steps": "abc", "eta": "0.1"}, "steps must be a whole number, not 'abc'"),
                         ({"temperature": "2"}, "ddpm has no sampling option 'temperature'; it has: sampler, steps"),
                         ({"eta": "1.5"}, "eta must be at most 1"),
                         ({"guidance": "inf"}, "guidance must be a finite number")]:
        with pytest.raises(ConfigError, match=message):
            engine.set_sampling_options(**bad)
        assert engine.sampling_options() == before


def test_class_options_follow_the_run():
    plain, conditional = make("cvae"), make("cvae", classes=3)
    assert [i.name for i in sampling_fields(plain)] == []
    with pytest.raises(ConfigError, match="'label' does not apply to this cvae run: it acts only on class-cond"):
        plain.set_sampling_options(label="c0")
    for name, option in [("ddpm", "guidance"), ("flow-matching", "guidance")]:  # Engine.class_settings
        assert option not in [i.name for i in sampling_fields(make(name))]
        assert option in [i.name for i in sampling_fields(make(name, classes=2))]
        with pytest.raises(ConfigError, match=f"'{option}' does not apply to this {name} run"):
            make(name).set_sampling_options(**{option: "3"})
    (label,) = sampling_fields(conditional)
    assert label.choices == ("c0", "c1", "c2") and label.default == "c0"
    conditional.set_sampling_options(label="c2")
    assert conditional.sampling_options().label == "c2"
    with pytest.raises(ConfigError, match="label must be one of c0, c1, c2; got 'dog'"):
        conditional.set_sampling_options(label="dog")


def test_the_check_works_on_field_descriptions_alone():
    """What the studio does on its own thread: no engine, only the fields it was sent."""
    fields = sampling_fields(make("pixelcnn"))
    assert check_sampling_options(fields, {"temperature": " 0.5 "}) == {"temperature": 0.5}
    assert check_sampling_options(fields, {"temperature": 0.7}) == {"temperature": 0.7}
    with pytest.raises(ConfigError, match="temperature must be at least 0.05"):
        check_sampling_options(fields, {"temperature": "0"})
    with pytest.raises(ConfigError, match="this run has no sampling option 'steps'"):
        check_sampling_options(fields, {"steps": "3"})


def test_families_json_lists_sampling_options(capsys):
    assert main(["families", "--json"]) == 0
    data = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    ddpm = {o["name"]: o for o in data["ddpm"]["sampling"]}
    assert set(ddpm) == {"sampler", "steps", "eta", "guidance", "ema"} and ddpm["eta"]["max"] == 1.0
    assert [o["name"] for o in data["pixelcnn"]["sampling"]] == ["temperature"]
    assert data["ae"]["sampling"] == []


def test_sample_set_errors_are_one_line_and_exit_code_2(tmp_path, capsys):
    run = train_tiny_run(tmp_path, steps=2)
    capsys.readouterr()
    for sets, message in [(["steps=abc"], "dcgan has no sampling option 'steps'; it has none"),
                          (["oops"], "--set expects KEY=VALUE")]:
        args = ["sample", str(run), "--n", "1", "--out", str(tmp_path / "s")]
        for s in sets:
            args += ["--set", s]
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
        assert not (tmp_path / "s").exists()  # nothing was written
