"""Every family on two processes (gloo, forked once; the processes loop over the families): both
finish with identical replicated state (checked after every step through the group), stopping and
resuming on two processes repeats the uninterrupted run exactly (logged losses, every rank's state:
weights, buffers, optimisers, and each process's own replay buffer or pool of fakes)."""

import json
import os
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from engines import registry
from engines.config import replace_checked
from engines.train import events as ev
from engines.train.checkpoint import latest_checkpoint, load_checkpoint
from engines.train.loop import Control, Trainer
from engines.train.process_state import CHECK_ENV, rank_payload
from tests.helpers import tiny_dataset
from tests.engines.test_distributed import SETTINGS, _free_port, _warm_up
from tests.engines.test_family_contract import _assert_same_state, other_inputs, small_config

# GENSTUDIO_TEST_FAMILIES=a,b narrows both tests to a few families while working on one
FAMILIES = [n for n in os.environ.get("GENSTUDIO_TEST_FAMILIES", "").split(",") if n] or registry.names()
STEPS, STOP = 3, 2
FAMILY_SETTINGS = replace_checked(SETTINGS, steps=STEPS, log_every=1, validate_every=0, monitor_every=0,
                                  flip=True)


def _state(trainer) -> dict:
    from engines.train.checkpoint import engine_state
    return {"engine": engine_state(trainer.engine), "own": rank_payload(trainer.engine)}


def _train(job, rank) -> dict:
    data = tiny_dataset(n=20, size=16, channels=1, classes=2)
    if job.get("resume"):
        trainer = Trainer.resume(job["out"], data)
    else:
        trainer = Trainer.new(job["family"], small_config(job["family"]), FAMILY_SETTINGS, data, job["out"],
                              inputs=job["inputs"], input_paths=job["input_paths"])
    control = Control()
    real_step = trainer.engine.train_step

    def step(batch, *args):
        if job.get("stop_after") is not None and rank == 0 and trainer.step == job["stop_after"] - 1:
            control.request_stop()
        return real_step(batch, *args)

    trainer.engine.train_step = step
    events = list(trainer.run(control))
    return {"last": type(events[-1]).__name__, "step": trainer.step,
            "failed": [e.message for e in events if isinstance(e, ev.Failed)],
            "state": _state(trainer)}


def _worker(rank, port, jobs, folder, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), **{CHECK_ENV: "1"})
    torch.set_num_threads(1)
    results = {}
    try:
        from datetime import timedelta
        dist.init_process_group("gloo", rank=rank, world_size=2, timeout=timedelta(seconds=60))
        for name, job in jobs.items():
            straight = _train({**job, "out": folder / name / "a"}, rank)
            stopped = _train({**job, "out": folder / name / "b", "stop_after": STOP}, rank)
            resumed = _train({"out": folder / name / "b", "resume": True}, rank)
            results[name] = {"straight": straight, "stopped": stopped, "resumed": resumed}
            torch.save(results[name], folder / f"{name}-{rank}.pt")
            results[name] = None
        queue.put((rank, "ok"))
    except Exception:  # noqa: BLE001 - the test reads it
        queue.put((rank, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _rows(path):
    return [(r["step"], r.get("losses")) for r in map(json.loads, (path / "metrics.jsonl").read_text().splitlines())]


def _run_two(target, jobs, folder) -> None:
    """Two forked processes running `target(rank, port, jobs, folder, queue)`; both must say "ok"."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=target, args=(r, port, jobs, folder, queue)) for r in range(2)]
    for p in procs:
        p.start()
    done = dict(queue.get(timeout=600) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert done == {0: "ok", 1: "ok"}, done


def test_every_family_on_two_processes_agrees_and_resumes_exactly(tmp_path):
    data = tiny_dataset(n=20, size=16, channels=1, classes=2)
    jobs = {}
    for name in FAMILIES:
        _warm_up(name)
        values, paths = other_inputs(name, data, tmp_path / name)
        jobs[name] = {"family": name, "inputs": values, "input_paths": paths}
    _run_two(_worker, jobs, tmp_path)
    for name in FAMILIES:
        runs = [torch.load(tmp_path / f"{name}-{r}.pt", weights_only=False) for r in range(2)]
        for r, run in enumerate(runs):
            assert run["straight"]["last"] == "Finished", (name, r, run["straight"]["failed"])
            assert run["stopped"]["step"] == STOP, name
            assert run["resumed"]["last"] == "Finished", (name, r, run["resumed"]["failed"])
            # resuming repeats the uninterrupted run on every process: weights, buffers, optimisers, own state
            _assert_same_state(run["straight"]["state"], run["resumed"]["state"], f"{name} rank {r}")
        # replicated state is the same on both processes (the loop also checked it every step)
        own = set(registry.get(name).engine_class.process_state)
        assert own <= set(runs[0]["straight"]["state"]["engine"]["modules"]), name  # declares its own modules
        shared = [{"modules": {k: v for k, v in run["straight"]["state"]["engine"]["modules"].items() if k not in own},
                   "optimizers": run["straight"]["state"]["engine"]["optimizers"]} for run in runs]
        _assert_same_state(shared[0], shared[1], f"{name} across processes")
        assert [step for step, _ in _rows(tmp_path / name / "a")] == [1, 2, 3], name  # each step logged once
        assert _rows(tmp_path / name / "b") == _rows(tmp_path / name / "a"), name
        a_payload, _ = load_checkpoint(latest_checkpoint(tmp_path / name / "a"))
        b_payload, _ = load_checkpoint(latest_checkpoint(tmp_path / name / "b"))
        _assert_same_state(a_payload, b_payload, f"{name} checkpoint")
        assert sorted(p.name for p in (tmp_path / name).iterdir() if p.is_dir() and not p.name.startswith("input")) \
            == ["a", "b"]


# --- two processes take the one-process step on the combined batch -----------------------------

EQUAL_SETTINGS = replace_checked(FAMILY_SETTINGS, steps=2, flip=False, threads=1)  # the workers run at 1 thread too
# Statistics over the images of one process: batch norm (on CPU; SyncBatchNorm on CUDA) and the
# discriminator's minibatch standard deviation (ProGAN, StyleGAN) see each process's shard, so these
# cannot equal the one-process step on the combined batch (they still agree between processes).
BATCH_STATISTICS = {"dcgan", "cgan", "biggan", "progan", "stylegan"}
# what a family shows rather than trains on: the content images of the style family's preview grid are
# the first ones rank 0 trained on (its shard), the first ones of the combined batch on one process
SHOWN_ONLY = {"style/modules/held/preview"}


class _SameDraws:
    """Random draws inside train_step made constant (normal 0, uniform 0.5, integers at their low
    end, no dropout), so a draw no longer depends on which process makes it or how many images it
    has: what is left to compare is the arithmetic of splitting the batch, averaging the gradients
    and agreeing the buffers."""

    def __enter__(self):
        import torch.nn.functional as F

        def shape(size):
            return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size

        def plain(kw):
            return {k: v for k, v in kw.items() if k in ("dtype", "device")}

        def randint(*args, **kw):
            low, high, size = (0, *args) if len(args) == 2 else args
            return torch.full(tuple(size), low, dtype=kw.get("dtype", torch.int64), device=kw.get("device"))

        self.saved = [(torch, n, getattr(torch, n)) for n in ("randn", "rand", "randint", "randn_like", "rand_like")]
        self.saved.append((F, "dropout", F.dropout))
        torch.randn = lambda *s, **kw: torch.zeros(shape(s), **plain(kw))
        torch.rand = lambda *s, **kw: torch.full(shape(s), 0.5, **plain(kw))
        torch.randint = randint
        torch.randn_like = lambda x, **kw: torch.zeros_like(x, **plain(kw))
        torch.rand_like = lambda x, **kw: torch.full_like(x, 0.5, **plain(kw))
        F.dropout = lambda x, *a, **kw: x
        return self

    def __exit__(self, *exc):
        for owner, name, value in self.saved:
            setattr(owner, name, value)


def _two_steps(name, job) -> dict:
    data = tiny_dataset(n=20, size=16, channels=1, classes=2)
    trainer = Trainer.new(name, small_config(name), EQUAL_SETTINGS, data, None, inputs=job["inputs"])
    for opt in trainer.engine.optimizers().values():  # Adam's steps linear in the gradient (not its sign),
        for group in opt.param_groups:                # so rounding in near-zero gradients stays rounding
            if "eps" in group:
                group["eps"] = 1.0
    real_step = trainer.engine.train_step

    def step(batch, *args):
        with _SameDraws():
            return real_step(batch, *args)

    trainer.engine.train_step = step
    events = list(trainer.run())
    from engines.train.checkpoint import engine_state
    own = set(trainer.engine.process_state)
    state = engine_state(trainer.engine)
    return {"last": type(events[-1]).__name__, "failed": [e.message for e in events if isinstance(e, ev.Failed)],
            "modules": {k: v for k, v in state["modules"].items() if k not in own},
            "optimizers": state["optimizers"]}


def _equal_worker(rank, port, jobs, folder, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        from datetime import timedelta
        dist.init_process_group("gloo", rank=rank, world_size=2, timeout=timedelta(seconds=60))
        for name, job in jobs.items():
            result = _two_steps(name, job)
            if rank == 0:
                torch.save(result, folder / f"equal-{name}.pt")
        queue.put((rank, "ok"))
    except Exception:  # noqa: BLE001 - the test reads it
        queue.put((rank, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _close(a, b, where, problems):
    if isinstance(a, torch.Tensor):
        if a.is_floating_point():
            if not torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-6):
                problems.append(f"{where} (max difference {float((a.double() - b.double()).abs().max()):.2e})")
        elif not torch.equal(a, b):
            problems.append(where)
    elif isinstance(a, dict):
        for k in a:
            _close(a[k], b[k], f"{where}/{k}", problems)
    elif isinstance(a, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}/{i}", problems)


def test_two_processes_take_the_one_process_step_on_the_combined_batch(tmp_path):
    data = tiny_dataset(n=20, size=16, channels=1, classes=2)
    jobs = {}
    for name in [n for n in FAMILIES if n not in BATCH_STATISTICS]:
        _warm_up(name)
        jobs[name] = {"inputs": other_inputs(name, data, tmp_path / name)[0]}
    _run_two(_equal_worker, jobs, tmp_path)
    differ = {}
    for name in [n for n in FAMILIES if n not in BATCH_STATISTICS]:
        two = torch.load(tmp_path / f"equal-{name}.pt", weights_only=False)
        one = _two_steps(name, jobs[name])
        assert two["last"] == one["last"] == "Finished", (name, two["failed"], one["failed"])
        problems = []
        _close(one, two, name, problems)
        problems = [p for p in problems if p.split(" ")[0] not in SHOWN_ONLY]
        if problems:
            differ[name] = problems[:3]
    assert not differ, "\n".join(f"{k}: {v}" for k, v in differ.items())
