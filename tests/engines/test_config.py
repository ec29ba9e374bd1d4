import json

import pytest

from engines.config import (ConfigError, field_infos, from_dict, parse_assignments, replace_checked,
                            to_dict)
from engines.families.gan import DCGANConfig
from engines.train.loop import TrainSettings


def test_every_field_has_help_and_a_type():
    for cls in (DCGANConfig, TrainSettings):
        for info in field_infos(cls):
            assert info.help, info.name
            assert info.type in (int, float, bool, str)


def test_strings_from_the_command_line_are_coerced_and_checked():
    c = replace_checked(DCGANConfig(), latent_dim="64", lr_g="1e-3")
    assert c.latent_dim == 64 and c.lr_g == pytest.approx(1e-3)
    with pytest.raises(ConfigError, match="lr_g must be a number"):
        replace_checked(DCGANConfig(), lr_g="fast")
    with pytest.raises(ConfigError, match="latent_dim must be at least 2"):
        replace_checked(DCGANConfig(), latent_dim=1)
    with pytest.raises(ConfigError, match="whole number"):
        replace_checked(DCGANConfig(), latent_dim="2.5")
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        replace_checked(DCGANConfig(), nope=1)
    with pytest.raises(ConfigError, match="one of auto, cpu, cuda, mps"):
        replace_checked(TrainSettings(), device="tpu")
    with pytest.raises(ConfigError, match="finite"):
        replace_checked(DCGANConfig(), lr_d="nan")
    assert replace_checked(TrainSettings(), flip="yes").flip is True


def test_json_round_trip():
    c = replace_checked(DCGANConfig(), latent_dim=32)
    assert from_dict(DCGANConfig, json.loads(json.dumps(to_dict(c)))) == c
    assert from_dict(DCGANConfig, {"latent_dim": 32, "from_the_future": 1}, strict=False) == c


def test_parse_assignments():
    assert parse_assignments(["a=1", "b = x=y"]) == {"a": "1", "b": " x=y"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignments(["novalue"])


def test_form_labels_spell_out_abbreviations():
    from engines.config import readable_name

    assert readable_name("lr_g") == "learning rate G"
    assert readable_name("ema_decay") == "EMA decay" and readable_name("kl_warmup_steps") == "KL warmup steps"
    assert readable_name("latent_dim") == "latent dim"
    assert readable_name("diffaugment") == "DiffAugment" and readable_name("sgld_step_size") == "SGLD step size"
    assert readable_name("tv_weight") == "TV weight" and readable_name("mapping_lr_mul") == \
        "mapping learning rate multiplier"
