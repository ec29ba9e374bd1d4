"""Two-stage families with a given first stage (the input `first_stage`: a finished run or model file):
used frozen from the first step, the run resumes exactly and exports and samples on its own; a first
stage of the wrong family is refused with one line naming the input."""

import json

import numpy as np
import pytest

from engines import registry
from engines.config import replace_checked
from engines.train import events as ev
from engines.train.inputs import InputError, load_input
from engines.train.loop import Control, Trainer, TrainSettings
from engines.train.model_file import load_model, save_model
from engines.train.restore import load_engine
from tests.helpers import tiny_dataset

SETTINGS = TrainSettings(steps=4, batch_size=4, log_every=1, sample_every=0, checkpoint_every=2, n_samples=2,
                         validate_every=0, monitor_every=0)


def _run(name, out, data, steps=None, **config):
    family = registry.get(name)
    settings = replace_checked(SETTINGS, steps=steps or SETTINGS.steps)
    trainer = Trainer.new(name, replace_checked(family.config_class(), **config), settings, data, out)
    assert isinstance(list(trainer.run())[-1], ev.Finished)
    return out


def _given(family, path):
    """What the CLI's `--input first_stage=PATH` and the studio's drop target load."""
    return {"first_stage": load_input(family.engine_class.input_spec("first_stage"), [str(path)], size=16)}


@pytest.mark.parametrize("second, first, first_config, second_config", [
    ("transformer", "vqvae", {"width": 4, "code_dim": 3, "codebook_size": 6},
     {"variant": "tokens", "layers": 1, "dim": 16, "heads": 2}),
    ("ldm", "ae", {"width": 4, "latent_dim": 3},
     {"base_channels": 8, "channel_mults": "1", "num_res_blocks": 1, "timesteps": 50, "sample_steps": 2}),
])
def test_a_given_first_stage_is_used_and_the_run_stands_on_its_own(tmp_path, second, first, first_config, second_config):
    data = tiny_dataset(n=16, size=16, classes=2)
    given_run = _run(first, tmp_path / "first", data, **first_config)
    family = registry.get(second)
    inputs = _given(family, given_run)
    config = replace_checked(family.config_class(), **second_config)
    straight = Trainer.new(second, config, SETTINGS, data, tmp_path / "a", inputs=inputs,
                           input_paths={"first_stage": [str(given_run)]})
    list(straight.run())
    assert straight.engine.first_given and straight.engine.phase == 2
    assert json.loads((tmp_path / "a" / "run.json").read_text())["inputs"]["first_stage"]["kind"] == "run"

    # stopped after step 2 and resumed (the first stage is loaded again from its path): the same run
    control = Control()
    inputs = _given(family, given_run)
    stopped = Trainer.new(second, config, SETTINGS, data, tmp_path / "b", inputs=inputs,
                          input_paths={"first_stage": [str(given_run)]})
    real_step = stopped.engine.train_step

    def step_then_stop(batch, step, total):
        if stopped.step == 1:
            control.request_stop()
        return real_step(batch, step, total)

    stopped.engine.train_step = step_then_stop
    list(stopped.run(control))
    resumed = Trainer.resume(tmp_path / "b", data)
    list(resumed.run())
    np.testing.assert_array_equal(resumed.engine.sample(2, seed=3), straight.engine.sample(2, seed=3))

    # loaded without the input (sampling, export): rebuilt from the checkpoint alone
    engine, _ = load_engine(tmp_path / "a")
    assert engine.first_given and engine.first.family == first
    np.testing.assert_array_equal(engine.sample(2, seed=3), straight.engine.sample(2, seed=3))
    exported, _ = load_model(save_model(engine, tmp_path / "m.safetensors", 4))
    np.testing.assert_array_equal(exported.sample(2, seed=3), straight.engine.sample(2, seed=3))


def test_a_first_stage_of_the_wrong_family_is_one_line(tmp_path):
    data = tiny_dataset(n=8, size=16)
    ebm = _run("ebm", tmp_path / "ebm", data, steps=1, width=4, buffer_size=8, sgld_steps=1)
    with pytest.raises(InputError) as err:
        _given(registry.get("ldm"), ebm)
    assert "first_stage" in str(err.value) and "ebm" in str(err.value) and "\n" not in str(err.value)


def test_from_the_command_line(tmp_path, capsys):
    from PIL import Image

    from engines.cli import main

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(imgs / f"{i}.png")
    common = ["--data", str(imgs), "--size", "16", "--batch-size", "4", "--quiet", "--set", "sample_every=0"]
    vq = tmp_path / "vq"
    assert main(["train", "--family", "vqvae", "--out", str(vq), "--steps", "2", *common, "--set", "width=4",
                 "--set", "code_dim=3", "--set", "codebook_size=6"]) == 0
    run = tmp_path / "tr"
    assert main(["train", "--family", "transformer", "--out", str(run), "--steps", "2", *common,
                 "--input", f"first_stage={vq}", "--set", "variant=tokens", "--set", "layers=1",
                 "--set", "dim=16", "--set", "heads=2"]) == 0
    assert load_engine(run)[0].vocab == 6
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "s")]) == 0
    capsys.readouterr()
    assert main(["train", "--family", "ldm", "--out", str(tmp_path / "bad"), "--steps", "1", *common,
                 "--input", f"first_stage={run}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "first_stage" in err and "transformer" in err
