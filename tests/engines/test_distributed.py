"""Training on several processes (torch.distributed, gloo, two CPU processes started by fork):
one family of each kind trains into one run folder, logs each step once with the mean over the
processes, keeps every process's weights identical and resumes exactly; a failing process stops
the other and the run says which one failed."""

import json
import os
import tempfile
from pathlib import Path
import socket
import traceback

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from engines.config import replace_checked
from engines.train import events as ev
from engines.train.checkpoint import latest_checkpoint, load_checkpoint
from engines.train.loop import Control, Trainer, TrainSettings
from engines.train.run import RunError
from tests.helpers import tiny_dataset
from tests.engines.test_family_contract import _assert_same_state, other_inputs, small_config

SETTINGS = TrainSettings(steps=7, batch_size=4, log_every=2, sample_every=0, checkpoint_every=0, n_samples=4,
                         validate_every=3, monitor_every=3, val_fraction=0.2, flip=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flat_parameters(trainer) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1).float() for m in trainer.engine.modules().values()
                      for p in m.parameters()]).numpy()


def _worker(rank, world, port, job, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        from datetime import timedelta
        dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60))
        data = tiny_dataset(n=20, size=16, channels=1, classes=2)
        try:
            if job.get("resume"):
                trainer = Trainer.resume(job["out"], data)
            else:
                trainer = Trainer.new(job["family"], small_config(job["family"]), job["settings"], data, job["out"],
                                      inputs=job.get("inputs"), input_paths=job.get("input_paths"))
        except RunError as exc:
            if not job.get("expect_error"):
                raise
            queue.put({"rank": rank, "refused": str(exc)})
            return
        control = Control()
        real_step = trainer.engine.train_step
        poisoned = []

        def step(batch, *args):
            if job.get("stop_after") is not None and rank == 0 and trainer.step == job["stop_after"] - 1:
                control.request_stop()  # only rank 0 is asked, as the person asks the studio
            if job.get("rollback_at") is not None and rank == 0 and trainer.step == job["rollback_at"] \
                    and not poisoned:
                poisoned.append(True)
                control.request_rollback()  # the person asks rank 0; every process must go back
            if job.get("fail_rank") == rank and trainer.step == job.get("fail_step", 0):
                raise ValueError("a deliberate failure in this process")
            losses = real_step(batch, *args)
            if job.get("poison_rank") == rank and trainer.step == 2 and not poisoned:
                poisoned.append(True)
                losses = {k: float("nan") for k in losses}
            return losses

        trainer.engine.train_step = step
        events = list(trainer.run(control))
        summary = {"rank": rank, "events": [type(e).__name__ for e in events],
                   "progress": [e.step for e in events if isinstance(e, ev.Progress)],
                   "warnings": [(e.kind, e.message) for e in events if isinstance(e, ev.TrainWarning)],
                   "failed": [(e.message, e.rank) for e in events if isinstance(e, ev.Failed)],
                   "started": [(e.world_size, e.per_process_batch, e.global_batch)
                               for e in events if isinstance(e, ev.Started)],
                   "step": trainer.step, "params": _flat_parameters(trainer),
                   "shards": [trainer.shard_indices(k).tolist() for k in range(3)]}
    except Exception:  # noqa: BLE001 - the test reads it
        summary = {"rank": rank, "error": traceback.format_exc()}
    queue.put(summary)
    try:
        if dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001
        pass


_warm: set[str] = set()


def _warm_up(family: str | None) -> None:
    """Build the family once here, so the forked processes inherit its imports and torch's first-use
    set-up instead of each paying seconds for them."""
    if family and family not in _warm:
        data = tiny_dataset(n=20, size=16, channels=1, classes=2)
        values, _ = other_inputs(family, data, Path(tempfile.mkdtemp()))
        trainer = Trainer.new(family, small_config(family), SETTINGS, data, None, inputs=values)
        trainer.engine.train_step(trainer._batch(0), 0, 1)
        trainer.engine.preview(2, seed=0)
        _warm.add(family)


def run_ranks(job: dict, world: int = 2, timeout: float = 120) -> list[dict]:
    _warm_up(job.get("family"))
    if job.get("family") and job.get("out") and "inputs" not in job:  # made here, before the processes
        data = tiny_dataset(n=20, size=16, channels=1, classes=2)
        job = dict(job)
        job["inputs"], job["input_paths"] = other_inputs(job["family"], data, Path(job["out"]).parent)
    ctx = mp.get_context("fork")  # forked workers start in milliseconds; spawn re-imports torch
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, job, queue)) for r in range(world)]
    for p in procs:
        p.start()
    out = sorted((queue.get(timeout=timeout) for _ in procs), key=lambda s: s["rank"])
    for p in procs:
        p.join(timeout=30)
    for s in out:
        assert "error" not in s, s["error"]
    return out


def _rows(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


# one family of each kind: a two-optimiser GAN with a gradient penalty, a VAE, a flow, an
# autoregressive model and diffusion with a weight average (EMA)
KINDS = ["wgan-gp", "vae", "realnvp", "pixelcnn", "ddpm"]


@pytest.mark.parametrize("name", KINDS)
def test_two_processes_train_one_run_and_resume_exactly(tmp_path, name):
    straight = run_ranks({"family": name, "settings": SETTINGS, "out": tmp_path / "a"})
    for s in straight:
        assert s["events"][-1] == "Finished", s
        assert s["started"] == [(2, 2, 4)]
    # each process reads its half of the one-process batch of every step
    alone = Trainer.new(name, small_config(name), SETTINGS, tiny_dataset(n=20, size=16, channels=1, classes=2), None)
    for k in range(3):
        assert straight[0]["shards"][k] + straight[1]["shards"][k] == alone.shard_indices(k).tolist()
        assert len(straight[0]["shards"][k]) == 2
    # both processes hold the same weights, weight averages included
    np.testing.assert_array_equal(straight[0]["params"], straight[1]["params"])

    # one run folder, each logged step once, the mean over the processes
    rows = [r for r in _rows(tmp_path / "a") if "losses" in r]
    assert [r["step"] for r in rows] == [2, 4, 6, 7]
    record = json.loads((tmp_path / "a" / "run.json").read_text())
    assert record["status"] == "finished"
    assert record["distributed"]["world_size"] == 2
    assert (record["distributed"]["per_process_batch"], record["distributed"]["global_batch"]) == (2, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]

    # stopped after step 3 (mid-interval), resumed on two processes: the same run
    first = run_ranks({"family": name, "settings": SETTINGS, "out": tmp_path / "b", "stop_after": 3})
    assert [s["step"] for s in first] == [3, 3]
    resumed = run_ranks({"out": tmp_path / "b", "resume": True})
    assert all(not s["warnings"] or all(k != "distributed" for k, _ in s["warnings"]) for s in resumed)
    assert [(r["step"], r.get("losses"), r.get("metrics")) for r in _rows(tmp_path / "b")] == \
        [(r["step"], r.get("losses"), r.get("metrics")) for r in _rows(tmp_path / "a")]
    a_state, _ = load_checkpoint(latest_checkpoint(tmp_path / "a"))
    b_state, _ = load_checkpoint(latest_checkpoint(tmp_path / "b"))
    _assert_same_state(a_state["engine"], b_state["engine"])
    np.testing.assert_array_equal(resumed[0]["params"], straight[0]["params"])
    np.testing.assert_array_equal(resumed[1]["params"], straight[1]["params"])


@pytest.mark.parametrize("name", ["vae", "ebm"])
def test_resuming_on_another_number_of_processes_works_and_says_so(tmp_path, name):
    run_ranks({"family": name, "settings": SETTINGS, "out": tmp_path / "r", "stop_after": 3})
    data = tiny_dataset(n=20, size=16, channels=1, classes=2)
    trainer = Trainer.resume(tmp_path / "r", data)
    assert trainer.step == 3
    if name == "ebm":  # the one process takes saved process 0's own replay buffer
        payload, _ = load_checkpoint(latest_checkpoint(tmp_path / "r"))
        own = payload["ranks"][0]["sharded"]["replay_buffer"]["images"]
        assert torch.equal(trainer.engine.buffer.images, own)
        assert not torch.equal(own, payload["ranks"][1]["sharded"]["replay_buffer"]["images"])
    events = list(trainer.run())
    assert isinstance(events[-1], ev.Finished) and events[-1].step == SETTINGS.steps
    notes = [e.message for e in events if isinstance(e, ev.TrainWarning) and e.kind == "distributed"]
    assert len(notes) == 1 and "2 processes" in notes[0] and "continues on 1" in notes[0]
    assert ("replay_buffer is the copy of saved process" in notes[0]) == (name == "ebm")
    assert [r["step"] for r in _rows(tmp_path / "r") if "losses" in r] == [2, 4, 6, 7]


def test_a_failing_process_stops_both_and_the_run_names_it(tmp_path):
    out = run_ranks({"family": "vae", "settings": SETTINGS, "out": tmp_path / "f", "fail_rank": 1,
                     "fail_step": 2})
    for s in out:
        assert s["events"][-1] == "Failed", s
        message, rank = s["failed"][0]
        assert rank == 1 and "process 1 of 2 failed at step 3" in message
        assert "deliberate failure" in message
    record = json.loads((tmp_path / "f" / "run.json").read_text())
    assert record["status"] == "failed"
    assert record["failure"]["rank"] == 1 and "deliberate failure" in record["failure"]["message"]


def test_a_non_finite_loss_on_one_process_rolls_both_back(tmp_path):
    settings = replace_checked(SETTINGS, checkpoint_every=2, validate_every=0, monitor_every=0)
    out = run_ranks({"family": "vae", "settings": settings, "out": tmp_path / "n", "poison_rank": 1})
    for s in out:
        assert s["events"][-1] == "Finished", s
        assert [k for k, _ in s["warnings"]] == ["rollback"]
    np.testing.assert_array_equal(out[0]["params"], out[1]["params"])


def test_a_batch_that_does_not_split_is_refused_before_anything_is_written(tmp_path):
    settings = replace_checked(SETTINGS, batch_size=5)
    out = run_ranks({"family": "vae", "settings": settings, "out": tmp_path / "odd", "expect_error": True})
    for s in out:
        assert "does not split evenly over 2 processes" in s["refused"]
    assert not (tmp_path / "odd").exists()


def test_a_rollback_asked_of_rank_0_takes_every_process_back(tmp_path):
    settings = replace_checked(SETTINGS, checkpoint_every=2, validate_every=0, monitor_every=0)
    out = run_ranks({"family": "dcgan", "settings": settings, "out": tmp_path / "rb", "rollback_at": 4})
    for s in out:
        assert s["events"][-1] == "Finished", s
        assert [k for k, _ in s["warnings"]] == ["rollback"] and "went back to step 4" in s["warnings"][0][1]
    np.testing.assert_array_equal(out[0]["params"], out[1]["params"])
    rows = _rows(tmp_path / "rb")
    assert [r.get("event") for r in rows].count("rollback") == 1
