"""RunPlan and RunRecord: one plan for every front door, one wording per check, run.json typed and
versioned (older files still open), and the budget's planned length."""

import json

import numpy as np
import pytest
from PIL import Image

from engines.cli import main
from engines.config import ConfigError
from engines.families.gan import DCGANConfig
from engines.train.budget import Budget
from engines.train.loop import Trainer, TrainSettings
from engines.train.plan import DataPlan, RunPlan, RunRecord, check_plan, new_plan, resume_plan
from engines.train.run import RunDir, RunError

SMALL = DCGANConfig(latent_dim=8, g_width=8, d_width=8)
SETTINGS = TrainSettings(steps=2, batch_size=8, log_every=1, sample_every=0, checkpoint_every=0, n_samples=4,
                         device="cpu")


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    out = tmp_path / "imgs"
    out.mkdir()
    for i in range(16):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(out / f"{i}.png")
    return out


def test_a_plan_survives_json_and_its_checks_speak_once(folder, tmp_path):
    plan = new_plan("dcgan", SMALL, SETTINGS, DataPlan((str(folder),), 16, 1), out_dir=tmp_path / "r")
    path = plan.write(tmp_path / "plan.json")
    assert RunPlan.read(path) == plan
    check_plan(plan)
    with pytest.raises(ConfigError, match="does not split evenly over 3 processes"):
        check_plan(plan, processes=3)
    with pytest.raises(ConfigError, match="size must be between"):
        check_plan(new_plan("dcgan", SMALL, SETTINGS, DataPlan((str(folder),), 8, 1)))
    with pytest.raises(ConfigError, match="nowhere does not exist"):
        check_plan(new_plan("dcgan", SMALL, SETTINGS, DataPlan((str(tmp_path / "nowhere"),), 16, 1)))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a genstudio run plan"):
        RunPlan.read(tmp_path / "bad.json")


def test_a_version_1_run_json_still_opens_and_continues(folder, tmp_path):
    run = tmp_path / "old"
    plan = new_plan("dcgan", SMALL, SETTINGS, DataPlan((str(folder),), 16, 1), out_dir=run)
    list(Trainer.from_plan(plan).run())
    rec = json.loads((run / "run.json").read_text())
    assert rec["format"] == "genstudio-run/2"
    # what genstudio-run/1 files may lack: inputs, fit/background, precision, processes
    for key in ("inputs", "precision", "channels_last", "distributed"):
        rec.pop(key, None)
    rec["data"].pop("fit", None)
    rec["data"].pop("background", None)
    rec["format"] = "genstudio-run/1"
    (run / "run.json").write_text(json.dumps(rec))

    record = RunDir.open(run).read()
    assert isinstance(record, RunRecord) and record.family == "dcgan" and record.inputs == {}
    assert record.data_plan().fit == "center-crop" and record.train_settings().steps == 2
    assert resume_plan(record, run, steps=3).settings.steps == 3
    assert main(["train", "--resume", "--out", str(run), "--steps", "3", "--quiet"]) == 0
    assert RunDir.open(run).read().step == 3


def test_a_record_refuses_what_is_not_a_run():
    with pytest.raises(RunError, match="not a genstudio run"):
        RunRecord.from_json({"format": "something-else/1", "family": "dcgan"})
    with pytest.raises(RunError, match="which family"):
        RunRecord.from_json({"format": "genstudio-run/2"})
    keep = RunRecord.from_json({"format": "genstudio-run/2", "family": "dcgan", "data_spec": {}, "future": 1})
    assert keep.to_json()["future"] == 1  # a newer version's fields are kept when written back


def test_a_hand_edited_record_reads_typed_and_a_loaded_one_keeps_its_old_dictionary_face(folder, tmp_path):
    odd = RunRecord.from_json({"format": "genstudio-run/2", "family": "dcgan", "settings": [1], "data": "x",
                               "step": "7", "pid": True, "created": 5}, need_spec=False)
    assert (odd.settings, odd.data, odd.data_spec, odd.step, odd.pid, odd.created) == ({}, {}, {}, 0, None, 5.0)
    with pytest.raises(RunError, match="no data_spec"):
        RunRecord.from_json({"format": "genstudio-run/2", "family": "dcgan"})

    from engines.train.restore import load_engine
    run = tmp_path / "r"
    list(Trainer.from_plan(new_plan("dcgan", SMALL, SETTINGS, DataPlan((str(folder),), 16, 1), out_dir=run)).run())
    _, loaded = load_engine(run)
    assert loaded.family == "dcgan" and loaded.checkpoint_step == 2 and loaded.warnings == []
    assert loaded.data_plan().sources == (str(folder),) and loaded["checkpoint_step"] == 2
    assert dict(loaded.with_run(str(run)))["run"] == str(run) and "model_file" not in loaded
    assert "checkpoint_step" not in loaded.to_json()  # what was loaded is never written into run.json


def test_the_planned_length_follows_the_measured_rate():
    now = [0.0]
    budget = Budget(steps=1000, time_limit=100.0, clock=lambda: now[0])
    assert budget.planned_steps(0) == 1000  # nothing measured yet: the step cap
    budget.start()
    now[0] = 10.0
    assert budget.planned_steps(20) == 200  # 2 steps/s for 100 s
    now[0] = 20.0
    assert budget.planned_steps(30) == 150  # slower now: the plan shrinks
    assert Budget(steps=50, time_limit=100.0, clock=lambda: 20.0, seconds_before=10.0).planned_steps(30) == 50
    assert Budget(steps=70).planned_steps(5) == 70  # no time limit: the step cap
